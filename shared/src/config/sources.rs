//! One configuration section per registered source (`[eessi]`, `[spack]`,
//! `[lmod]` …), read from the registry: the location under the source's own
//! key (`api_url`, `data_url`, `channel_url`), the catalog name and version,
//! whether the refresh loads it, its shrink guard's shares, an optional
//! fetch cap, and its declared options.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::loader::ShrinkLimits;
use crate::sources::registry::OptionValues;
use crate::sources::{CatalogKind, SourceDefinition};
use crate::suggest::closest;

/// The keys every section has besides the location and the options.
const COMMON_KEYS: [&str; 6] = [
    "catalog_name",
    "version",
    "update_enabled",
    "max_skipped_share",
    "max_deleted_share",
    "max_fetch_bytes",
];

/// How one source is loaded unless a load says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// The source's location (`eessi.api_url`); empty when none is set.
    pub url: String,
    /// Name given to its catalogs; empty when the documents name them.
    pub catalog_name: String,
    /// The version the refresh loads; from the source when unset.
    pub version: Option<String>,
    /// Whether the daily refresh loads it.
    pub update_enabled: bool,
    /// Largest share (0 to 1) of the source's entries at one level that a
    /// load of a stored catalog may skip; beyond it the load is refused
    /// unless forced (`allow_shrink`).
    pub max_skipped_share: f64,
    /// Largest share (0 to 1) of a stored catalog's packages, versions or
    /// targets that one load may delete; beyond it the load is refused
    /// unless forced (`allow_shrink`).
    pub max_deleted_share: f64,
    /// Cap on one fetched document of this source, when it differs from
    /// `fetch.max_bytes`.
    pub max_fetch_bytes: Option<u64>,
    /// The source's declared options.
    pub options: OptionValues,
}

impl SourceConfig {
    /// The section a source has when nothing configures it.
    pub fn defaults(definition: &SourceDefinition) -> Self {
        Self {
            url: definition.default_url.to_owned(),
            catalog_name: definition.naming.default_name().to_owned(),
            version: None,
            update_enabled: definition.default_update_enabled,
            max_skipped_share: ShrinkLimits::DEFAULT.max_skipped_share,
            max_deleted_share: ShrinkLimits::DEFAULT.max_deleted_share,
            max_fetch_bytes: None,
            options: definition.default_options(),
        }
    }

    /// The shrink guard's shares for this source.
    pub fn shrink_limits(&self) -> ShrinkLimits {
        ShrinkLimits {
            max_skipped_share: self.max_skipped_share,
            max_deleted_share: self.max_deleted_share,
        }
    }

    /// Reads a section over the defaults; an unknown key or a value of the
    /// wrong type is an error naming `id.key`.
    fn read(
        definition: &SourceDefinition,
        section: BTreeMap<String, Value>,
    ) -> Result<Self, String> {
        let mut config = Self::defaults(definition);
        for (key, value) in section {
            let name = format!("{}.{key}", definition.id);
            match key.as_str() {
                "catalog_name" => config.catalog_name = text(&name, &value)?,
                "version" => config.version = Some(text(&name, &value)?),
                "update_enabled" => config.update_enabled = flag(&name, &value)?,
                "max_skipped_share" => config.max_skipped_share = number(&name, &value)?,
                "max_deleted_share" => config.max_deleted_share = number(&name, &value)?,
                "max_fetch_bytes" => {
                    config.max_fetch_bytes = Some(value.as_u64().ok_or_else(|| {
                        format!("{name}: must be a whole number of bytes, not {value}")
                    })?)
                }
                key if key == definition.url_key => config.url = text(&name, &value)?,
                key => match definition.option(key) {
                    Some(option) => {
                        let value = option
                            .from_json(&value)
                            .map_err(|reason| format!("{name}: {reason}"))?;
                        config.options.insert(key.to_owned(), value);
                    }
                    None => return Err(unknown_key(definition, key)),
                },
            }
        }
        Ok(config)
    }

    fn write(&self, definition: &SourceDefinition) -> serde_json::Map<String, Value> {
        let mut section = serde_json::Map::new();
        section.insert(definition.url_key.into(), self.url.clone().into());
        section.insert("catalog_name".into(), self.catalog_name.clone().into());
        if let Some(version) = &self.version {
            section.insert("version".into(), version.clone().into());
        }
        section.insert("update_enabled".into(), self.update_enabled.into());
        section.insert("max_skipped_share".into(), self.max_skipped_share.into());
        section.insert("max_deleted_share".into(), self.max_deleted_share.into());
        if let Some(bytes) = self.max_fetch_bytes {
            section.insert("max_fetch_bytes".into(), bytes.into());
        }
        for (name, value) in &self.options {
            section.insert(name.clone(), value.to_json());
        }
        section
    }
}

fn unknown_key(definition: &SourceDefinition, key: &str) -> String {
    let mut valid: Vec<&str> = vec![definition.url_key];
    valid.extend(COMMON_KEYS);
    valid.extend(definition.options.iter().map(|option| option.name));
    let id = definition.id;
    match closest(key, &valid) {
        Some(name) => format!("{id}.{key}: unknown key; did you mean {id}.{name}?"),
        None => format!(
            "{id}.{key}: unknown key; valid keys are {}",
            valid
                .iter()
                .map(|name| format!("{id}.{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(format!("{name}: must be text, not {value}")),
    }
}

fn flag(name: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{name}: must be true or false, not {value}"))
}

fn number(name: &str, value: &Value) -> Result<f64, String> {
    value
        .as_f64()
        .ok_or_else(|| format!("{name}: must be a number, not {value}"))
}

/// Every registered source's section, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcesConfig {
    sections: BTreeMap<&'static str, SourceConfig>,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            sections: CatalogKind::all()
                .map(|kind| (kind.as_str(), SourceConfig::defaults(kind.definition())))
                .collect(),
        }
    }
}

impl SourcesConfig {
    /// The section of one source.
    pub fn get(&self, kind: CatalogKind) -> SourceConfig {
        self.sections
            .get(kind.as_str())
            .cloned()
            .unwrap_or_else(|| SourceConfig::defaults(kind.definition()))
    }

    /// Changes the section of one source (tests and tools that build a
    /// configuration in code).
    pub fn set(&mut self, kind: CatalogKind, section: SourceConfig) {
        self.sections.insert(kind.as_str(), section);
    }

    /// Every section with its source.
    pub fn iter(&self) -> impl Iterator<Item = (CatalogKind, SourceConfig)> + '_ {
        CatalogKind::all().map(|kind| (kind, self.get(kind)))
    }
}

impl Serialize for SourcesConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.sections.len()))?;
        for (kind, section) in self.iter() {
            map.serialize_entry(kind.as_str(), &section.write(kind.definition()))?;
        }
        map.end()
    }
}

/// The top-level keys of the configuration: its own fields and one section
/// per registered source, for the "did you mean" of an unknown key.
static TOP_LEVEL_KEYS: LazyLock<&'static [&'static str]> = LazyLock::new(|| {
    let keys: Vec<&'static str> = super::OWN_KEYS
        .iter()
        .copied()
        .chain(CatalogKind::all().map(CatalogKind::as_str))
        .collect();
    Box::leak(keys.into_boxed_slice())
});

/// Reads the keys of the configuration that are not its own fields: each
/// must be a registered source's section.
impl<'de> Deserialize<'de> for SourcesConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Sections;

        impl<'de> Visitor<'de> for Sections {
            type Value = SourcesConfig;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("one section per catalog source")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourcesConfig, A::Error> {
                let mut config = SourcesConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    let Some(kind) = CatalogKind::parse(&key) else {
                        return Err(de::Error::unknown_field(&key, &TOP_LEVEL_KEYS));
                    };
                    let section: BTreeMap<String, Value> = map.next_value()?;
                    let section = SourceConfig::read(kind.definition(), section)
                        .map_err(de::Error::custom)?;
                    config.set(kind, section);
                }
                Ok(config)
            }
        }

        deserializer.deserialize_map(Sections)
    }
}
