//! The registry of catalog sources: each kind declares itself once, as a
//! [`SourceDefinition`] in its own module, and one line in
//! [`super::SOURCES`] registers it. The command line (`softcat load <id>`),
//! the job body and its validation, the configuration section, the runtime
//! settings (`SOFTWARE_CATALOG_<ID>_…`), the refresh fan-out and the OpenAPI
//! document are all read from here, so a new kind needs nothing else.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{CatalogSource, SourceError};
use crate::catalog::CatalogType;
use crate::fetch::Fetcher;
use crate::loader::{
    InvalidLoadRequest, LoadError, LoadOptions, LoadReport, LoadRequest, Progress, load_source,
};

/// One kind of catalog source, as everything outside its module sees it.
#[derive(Debug)]
pub struct SourceDefinition {
    /// The id in commands, job bodies, stored `source` columns, the
    /// configuration section and the settings' names (`eessi`).
    pub id: &'static str,
    /// One line on what the source is, for `softcat load --help`.
    pub summary: &'static str,
    /// What its catalogs hold; a custom catalog's document may name another.
    pub catalog_type: CatalogType,
    /// The name of its location option: `api_url` (CLI `--api-url`,
    /// setting `SOFTWARE_CATALOG_EESSI_API_URL`, configuration
    /// `eessi.api_url`).
    pub url_key: &'static str,
    /// What the location is, for help texts.
    pub url_help: &'static str,
    /// The location loaded by default; empty when there is none and a load
    /// must give one.
    pub default_url: &'static str,
    /// How its catalogs are named.
    pub naming: CatalogNaming,
    /// How the catalog version is chosen when a load gives none.
    pub version_help: &'static str,
    /// Whether the daily refresh loads it unless configured otherwise.
    pub default_update_enabled: bool,
    /// Whether one source document holds several catalog versions side by
    /// side (EESSI's stacks): the refresh keeps every stored one up to date
    /// and `--catalog-version all` loads each.
    pub holds_several_versions: bool,
    /// Options beyond the ones every load has.
    pub options: &'static [SourceOption],
    /// Builds the source a request names and loads it.
    pub load: for<'a> fn(&'a LoadRequest, LoadContext<'a>) -> BoxFuture<'a, LoadResult>,
    /// Builds the source a request names and lists the catalog versions
    /// its documents hold, without loading.
    pub offered_versions: for<'a> fn(&'a LoadRequest, &'a Fetcher) -> BoxFuture<'a, VersionsResult>,
}

/// How a source's catalogs get their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogNaming {
    /// This name unless the load or the configuration gives another
    /// (`EESSI`).
    Default(&'static str),
    /// The load or the configuration must give one (a site's module tree).
    Required,
    /// The documents name the catalog, and its version (custom catalogs).
    FromDocument,
}

impl CatalogNaming {
    /// The configured name when nothing else gives one; empty for none.
    pub fn default_name(self) -> &'static str {
        match self {
            Self::Default(name) => name,
            Self::Required | Self::FromDocument => "",
        }
    }
}

/// What a load ends with.
pub type LoadResult = Result<LoadReport, LoadError>;

/// What a listing of a source's versions ends with.
pub type VersionsResult = Result<Vec<String>, SourceError>;

/// What a load runs with besides its request.
pub struct LoadContext<'a> {
    /// The catalog database.
    pub db: &'a sea_orm::DatabaseConnection,
    /// Reads the source's documents.
    pub fetcher: &'a Fetcher,
    /// Update, dry run, guard and bounds.
    pub options: LoadOptions,
    /// Told of each phase.
    pub progress: &'a dyn Progress,
}

impl LoadContext<'_> {
    /// Loads `source` with this context, as every registered load ends.
    pub async fn load<S: CatalogSource>(self, source: &S) -> LoadResult {
        load_source(self.db, source, self.fetcher, self.options, self.progress).await
    }
}

/// An option a source declares beyond the common ones.
#[derive(Debug)]
pub struct SourceOption {
    /// The key in job bodies and records, the configuration section and
    /// (upper-cased) the settings: `include_extensions`.
    pub name: &'static str,
    /// The command-line flag without dashes: `extensions` (a flag gets
    /// `--extensions` and `--no-extensions`), `cpu-target` (a list takes the
    /// flag repeated or comma-separated values).
    pub flag: &'static str,
    /// What it does, for help texts and the OpenAPI document.
    pub help: &'static str,
    /// A flag or a list of words.
    pub kind: OptionKind,
    /// Its value when nothing gives one.
    pub default: fn() -> OptionValue,
    /// Checks a given value and puts it in its stored form (a list of CPU
    /// targets parsed and written out in full); the error says what a
    /// valid value is.
    pub check: fn(OptionValue) -> Result<OptionValue, String>,
}

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `true` or `false`.
    Flag,
    /// A list of words (CPU targets, conda subdirs).
    List,
}

/// An option's value, as job bodies and records hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    /// A flag's value.
    Flag(bool),
    /// A list's values.
    List(Vec<String>),
}

/// The options of one load, by name; every option its source declares is
/// present once a request is resolved.
pub type OptionValues = BTreeMap<String, OptionValue>;

impl SourceOption {
    /// Checks `value` against the option's kind, then its own rule; the
    /// error names what is expected.
    pub fn accept(&self, value: OptionValue) -> Result<OptionValue, String> {
        match (self.kind, &value) {
            (OptionKind::Flag, OptionValue::Flag(_)) | (OptionKind::List, OptionValue::List(_)) => {
                (self.check)(value)
            }
            (OptionKind::Flag, _) => Err("must be true or false".into()),
            (OptionKind::List, _) => Err("must be a list of text values".into()),
        }
    }

    /// Reads a JSON value given for this option (a job body, a setting, the
    /// configuration); a list may also be given as one comma-separated text.
    pub fn from_json(&self, value: &serde_json::Value) -> Result<OptionValue, String> {
        let value = match (self.kind, value) {
            (OptionKind::Flag, serde_json::Value::Bool(flag)) => OptionValue::Flag(*flag),
            (OptionKind::List, serde_json::Value::String(text)) => {
                OptionValue::List(split_list(text))
            }
            (OptionKind::List, serde_json::Value::Array(items)) => OptionValue::List(
                items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| "must be a list of text values".to_owned())?,
            ),
            (OptionKind::Flag, _) => return Err("must be true or false".into()),
            (OptionKind::List, _) => return Err("must be a list of text values".into()),
        };
        self.accept(value)
    }
}

/// `linux-64, noarch` → `["linux-64", "noarch"]`.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An option check that takes every value of the right kind.
pub fn any_value(value: OptionValue) -> Result<OptionValue, String> {
    Ok(value)
}

impl OptionValue {
    /// A flag's value; `false` for a list.
    pub fn flag(&self) -> bool {
        matches!(self, Self::Flag(true))
    }

    /// A list's values; empty for a flag.
    pub fn list(&self) -> &[String] {
        match self {
            Self::List(items) => items,
            Self::Flag(_) => &[],
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Flag(flag) => serde_json::Value::Bool(*flag),
            Self::List(items) => items.iter().cloned().collect(),
        }
    }
}

impl SourceDefinition {
    /// The declared option called `name`.
    pub fn option(&self, name: &str) -> Option<&'static SourceOption> {
        self.options.iter().find(|option| option.name == name)
    }

    /// Every option at its default.
    pub fn default_options(&self) -> OptionValues {
        self.options
            .iter()
            .map(|option| (option.name.to_owned(), (option.default)()))
            .collect()
    }

    /// The settings key of one of this source's values: `VERSION` →
    /// `SOFTWARE_CATALOG_EESSI_VERSION`.
    pub fn setting_key(&self, suffix: &str) -> String {
        format!(
            "SOFTWARE_CATALOG_{}_{}",
            self.id.to_ascii_uppercase(),
            suffix.to_ascii_uppercase()
        )
    }
}

/// A source that the registry can build from a request: the bridge between
/// a [`LoadRequest`] (plain data, as records keep it) and the source's own
/// typed fields.
pub trait RegisteredSource: CatalogSource + Sized + 'static {
    /// The source a resolved request names; an option the source cannot
    /// use is refused by name.
    fn from_request(request: &LoadRequest) -> Result<Self, InvalidLoadRequest>;

    /// The source to read when only the versions it offers are wanted; by
    /// default the same as for a load.
    fn for_listing(self) -> Self {
        self
    }
}

/// [`SourceDefinition::load`] for a registered source.
pub fn load_registered<'a, S: RegisteredSource>(
    request: &'a LoadRequest,
    context: LoadContext<'a>,
) -> BoxFuture<'a, LoadResult> {
    Box::pin(async move {
        let source = S::from_request(request).map_err(invalid)?;
        context.load(&source).await
    })
}

/// [`SourceDefinition::offered_versions`] for a registered source.
pub fn versions_registered<'a, S: RegisteredSource>(
    request: &'a LoadRequest,
    fetcher: &'a Fetcher,
) -> BoxFuture<'a, VersionsResult> {
    Box::pin(async move {
        let source = S::from_request(request).map_err(invalid)?.for_listing();
        let documents = source.fetch(fetcher).await?;
        Ok(source.versions(&source.parse(&documents)?))
    })
}

fn invalid(error: InvalidLoadRequest) -> SourceError {
    SourceError::Invalid(error.to_string())
}

/// Which registered source a catalog or load comes from: parsed once from
/// its id at the edge (a command, a job body, a stored row) and trusted
/// after.
#[derive(Clone, Copy)]
pub struct CatalogKind(&'static SourceDefinition);

impl CatalogKind {
    /// The kind of a registered definition.
    pub const fn of(definition: &'static SourceDefinition) -> Self {
        Self(definition)
    }

    /// Every registered kind, in registration order.
    pub fn all() -> impl Iterator<Item = Self> {
        super::SOURCES.iter().map(|definition| Self(definition))
    }

    /// The kind whose id is `id`.
    pub fn parse(id: &str) -> Option<Self> {
        Self::all().find(|kind| kind.as_str() == id)
    }

    /// The ids of every registered kind, for error messages.
    pub fn ids() -> String {
        Self::all().map(Self::as_str).collect::<Vec<_>>().join(", ")
    }

    /// The id, as stored in `software_catalogs.source`.
    pub fn as_str(self) -> &'static str {
        self.0.id
    }

    /// The source's declaration.
    pub fn definition(self) -> &'static SourceDefinition {
        self.0
    }

    /// What kind of catalog this source makes.
    pub fn catalog_type(self) -> CatalogType {
        self.0.catalog_type
    }
}

impl PartialEq for CatalogKind {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for CatalogKind {}

impl Hash for CatalogKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for CatalogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

impl fmt::Display for CatalogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

impl Serialize for CatalogKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.id)
    }
}

impl<'de> Deserialize<'de> for CatalogKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        Self::parse(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown catalog source {id:?}; known sources are {}",
                Self::ids()
            ))
        })
    }
}
