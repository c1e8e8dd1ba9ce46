//! OpenAPI types read from the registry of sources, so that the document
//! lists every registered source, its options and its settings without a
//! line per source here: the `source` of a load job, a load's `options`,
//! and the settings object.

use std::borrow::Cow;
use std::sync::LazyLock;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Map, Value};
use softcat_shared::catalog::CatalogKind;
use softcat_shared::settings::{CatalogSettings, SettingKind};
use softcat_shared::sources::registry::{OptionKind, OptionValue, OptionValues};

/// Text made once for the life of the process: OpenAPI schemas hold
/// `&'static str`, and the registry's texts are built from its parts.
fn forever(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn string_list() -> MetaSchema {
    MetaSchema {
        items: Some(Box::new(inline(MetaSchema::new("string")))),
        ..MetaSchema::new("array")
    }
}

fn inline(schema: MetaSchema) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(schema))
}

/// Implements the parts of [`Type`] that are the same for each type here.
macro_rules! registry_type {
    ($type:ty, $name:literal, $schema:expr) => {
        impl Type for $type {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Reference($name.into())
            }

            fn register(registry: &mut Registry) {
                registry.create_schema::<Self, _>($name.into(), |_| $schema);
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}

/// A registered source's id in a request body.
#[derive(Debug, Clone, Copy)]
pub struct SourceId(pub CatalogKind);

static SOURCE_ID_SCHEMA: LazyLock<MetaSchema> = LazyLock::new(|| MetaSchema {
    description: Some(forever(format!(
        "The catalog source: {}",
        CatalogKind::all()
            .map(|kind| format!("`{kind}` ({})", kind.definition().summary))
            .collect::<Vec<_>>()
            .join(", ")
    ))),
    enum_items: CatalogKind::all()
        .map(|kind| Value::from(kind.as_str()))
        .collect(),
    ..MetaSchema::new("string")
});

registry_type!(SourceId, "CatalogSource", SOURCE_ID_SCHEMA.clone());

impl ParseFromJSON for SourceId {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        let id = value.as_str().unwrap_or_default();
        CatalogKind::parse(id).map(SourceId).ok_or_else(|| {
            ParseError::custom(format!(
                "{value} is not a catalog source; known sources are {}",
                CatalogKind::ids()
            ))
        })
    }
}

impl ToJSON for SourceId {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.as_str().into())
    }
}

/// A load's own options (EESSI's `include_extensions` …), each checked
/// against the chosen source when the load is resolved.
#[derive(Debug, Clone, Default)]
pub struct LoadOptionsBody(pub OptionValues);

static LOAD_OPTIONS_SCHEMA: LazyLock<MetaSchema> = LazyLock::new(|| {
    let mut properties: Vec<(&'static str, MetaSchemaRef)> = Vec::new();
    for kind in CatalogKind::all() {
        for option in kind.definition().options {
            // Two sources may share an option's name; the document lists it
            // once (the first source's description).
            if properties.iter().any(|(name, _)| *name == option.name) {
                continue;
            }
            let schema = match option.kind {
                OptionKind::Flag => MetaSchema::new("boolean"),
                OptionKind::List => string_list(),
            };
            let help = forever(format!(
                "{kind} only: {} (default: {})",
                option.help,
                (option.default)().to_json()
            ));
            properties.push((
                option.name,
                inline(MetaSchema {
                    description: Some(help),
                    ..schema
                }),
            ));
        }
    }
    MetaSchema {
        description: Some(
            "The source's own options; each source takes only its own, and the \
             others are refused by name.",
        ),
        properties,
        ..MetaSchema::new("object")
    }
});

registry_type!(LoadOptionsBody, "LoadOptions", LOAD_OPTIONS_SCHEMA.clone());

impl ParseFromJSON for LoadOptionsBody {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let Some(Value::Object(map)) = value else {
            return Err(ParseError::custom(
                "must be an object of option names and values",
            ));
        };
        let mut options = OptionValues::new();
        for (name, value) in map {
            let value = serde_json::from_value::<OptionValue>(value).map_err(|_| {
                ParseError::custom(format!(
                    "{name}: must be true, false or a list of text values"
                ))
            })?;
            options.insert(name, value);
        }
        Ok(Self(options))
    }
}

impl ToJSON for LoadOptionsBody {
    fn to_json(&self) -> Option<Value> {
        serde_json::to_value(&self.0).ok()
    }
}

/// The runtime settings under their operator names, one key per setting
/// [`CatalogSettings::describe`] lists.
#[derive(Debug, Clone)]
pub struct SettingsObject(pub Map<String, Value>);

static SETTINGS_SCHEMA: LazyLock<MetaSchema> = LazyLock::new(|| {
    let properties = CatalogSettings::describe()
        .into_iter()
        .map(|setting| {
            let schema = match setting.kind {
                SettingKind::Flag => MetaSchema::new("boolean"),
                SettingKind::Url => MetaSchema::new("string"),
                SettingKind::Version => MetaSchema {
                    nullable: true,
                    ..MetaSchema::new("string")
                },
                SettingKind::Days => MetaSchema::new_with_format("integer", "int32"),
                SettingKind::List => string_list(),
            };
            (
                forever(setting.key),
                inline(MetaSchema {
                    description: Some(forever(setting.help)),
                    ..schema
                }),
            )
        })
        .collect::<Vec<_>>();
    MetaSchema {
        description: Some("The settings of catalog updates, under the names operators know."),
        required: properties.iter().map(|(key, _)| *key).collect(),
        properties,
        ..MetaSchema::new("object")
    }
});

registry_type!(SettingsObject, "Settings", SETTINGS_SCHEMA.clone());

impl ParseFromJSON for SettingsObject {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ParseError::custom(
                "must be an object of setting names and values",
            )),
        }
    }
}

impl ToJSON for SettingsObject {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Object(self.0.clone()))
    }
}
