//! Helpers that let one bad entry fail alone instead of failing its document.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An entry that is parsed on its own: a shape error becomes `Err(message)`
/// for this entry, and the rest of the document still parses.
#[derive(Debug)]
pub struct Lenient<T>(pub Result<T, String>);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(
            serde_json::from_str(raw.get()).map_err(|error| error.to_string()),
        ))
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]`: treats `null` like
/// an absent field, so published nulls do not reject an entry.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Entry {
        name: String,
        #[serde(default, deserialize_with = "nullable")]
        tags: Vec<String>,
    }

    #[test]
    fn a_bad_entry_fails_alone() {
        let entries: Vec<Lenient<Entry>> =
            serde_json::from_str(r#"[{"name": "a", "tags": null}, {"name": 5}, {"name": "c"}]"#)
                .unwrap();
        assert_eq!(entries[0].0.as_ref().unwrap().name, "a");
        assert!(entries[0].0.as_ref().unwrap().tags.is_empty());
        assert!(entries[1].0.as_ref().unwrap_err().contains("invalid type"));
        assert_eq!(entries[2].0.as_ref().unwrap().name, "c");
    }
}
