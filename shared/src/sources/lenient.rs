//! Helpers that let one bad entry fail alone instead of failing its document.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
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

/// Why an entry whose key the document gives again is skipped.
pub const DUPLICATE_KEY: &str = "the key is given more than once in the document; \
     its first entry is loaded and this later one left out";

/// A JSON object of entries by key that notices keys given twice. A plain
/// map keeps the last copy of a repeated key without a word; this keeps the
/// first and lists every later copy's key in `duplicates` (in document
/// order), so that the source can report it as skipped.
#[derive(Debug)]
pub struct UniqueMap<T> {
    /// The entries, by key; for a repeated key, its first copy.
    pub entries: BTreeMap<String, T>,
    /// The key of every copy left out, once per extra copy.
    pub duplicates: Vec<String>,
}

impl<T> Default for UniqueMap<T> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            duplicates: Vec::new(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for UniqueMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = UniqueMap<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of entries by key")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = UniqueMap::default();
                while let Some(key) = map.next_key::<String>()? {
                    match entries.entries.entry(key) {
                        Entry::Occupied(first) => {
                            // The copy is read past, not parsed: it is left out.
                            map.next_value::<IgnoredAny>()?;
                            entries.duplicates.push(first.key().clone());
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(map.next_value()?);
                        }
                    }
                }
                Ok(entries)
            }
        }

        deserializer.deserialize_map(Entries(PhantomData))
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
    fn a_key_given_again_is_listed_and_the_first_copy_kept() {
        let map: UniqueMap<Lenient<Entry>> = serde_json::from_str(
            r#"{"a": {"name": "first"}, "b": {"name": "b"}, "a": {"name": 5}, "a": {"name": "third"}}"#,
        )
        .unwrap();
        assert_eq!(map.entries.len(), 2);
        assert_eq!(map.entries["a"].0.as_ref().unwrap().name, "first");
        assert_eq!(map.duplicates, ["a", "a"]);
        let unique: UniqueMap<u32> = serde_json::from_str(r#"{"x": 1, "y": 2}"#).unwrap();
        assert!(unique.duplicates.is_empty());
        assert!(serde_json::from_str::<UniqueMap<u32>>("[1]").is_err());
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
