//! One load, described as data: what `softcat load` parses from its command
//! line and what a load job carries in its record. Resolving it against the
//! configuration fills in every default, so a job's record says exactly what
//! ran.

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::sources::SourceError;
use crate::sources::registry::{CatalogNaming, LoadContext, OptionValue, OptionValues};

use super::{LoadError, LoadLimits, LoadOptions, LoadReport, Progress};

/// A load of one catalog from its source, with every option spelt out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// Which kind of source.
    pub source: CatalogKind,
    /// The catalog's name (`EESSI`, `Spack`); empty when the documents name
    /// the catalog themselves (custom catalogs).
    pub catalog_name: String,
    /// The catalog version; `None` takes it from the source (EESSI: the
    /// newest stack version; Spack: the snapshot's `last_update`).
    pub catalog_version: Option<String>,
    /// The source's URL or path (EESSI: the API base; Spack: repology.json).
    pub url: String,
    /// Bring an existing catalog in line; otherwise leave it as it is.
    pub update_existing: bool,
    /// Compute the statistics, write nothing.
    pub dry_run: bool,
    /// Load even when the shrink guard would refuse it (records written
    /// before this option existed lack it: `false`).
    #[serde(default)]
    pub allow_shrink: bool,
    /// The source's own options (EESSI's `include_extensions` …), beside
    /// the common ones in the record, as records have always kept them.
    #[serde(flatten)]
    pub options: OptionValues,
}

/// A load request with its optional parts still open, as callers give it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequestDraft {
    /// Catalog name; the configured name of the source kind by default.
    pub catalog_name: Option<String>,
    /// Catalog version; from the source by default.
    pub catalog_version: Option<String>,
    /// Source URL or path; the configured one by default.
    pub url: Option<String>,
    /// The source's own options that the caller gives; the others take
    /// their defaults.
    pub options: OptionValues,
    /// Update an existing catalog (default: no).
    pub update_existing: bool,
    /// Write nothing (default: no).
    pub dry_run: bool,
    /// Load past the shrink guard (default: no).
    #[serde(default)]
    pub allow_shrink: bool,
}

/// Why a load request cannot run; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidLoadRequest {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidLoadRequest {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Defaults for the parts of a request a caller leaves open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadDefaults {
    /// Catalog name (empty: the documents name it).
    pub catalog_name: String,
    /// Catalog version (`None`: from the source).
    pub catalog_version: Option<String>,
    /// Source URL or path (empty: none configured, a load must give one).
    pub url: String,
    /// The source's own options.
    pub options: OptionValues,
}

impl LoadDefaults {
    /// The defaults the configuration file gives for a source kind.
    pub fn from_config(config: &Config, source: CatalogKind) -> Self {
        let section = config.sources.get(source);
        Self {
            catalog_name: section.catalog_name.clone(),
            catalog_version: section.version.clone(),
            url: section.url.clone(),
            options: section.options.clone(),
        }
    }
}

/// The source whose configured catalog name is `catalog_name` (`EESSI` →
/// EESSI), for the actions that name a catalog rather than a source.
pub fn source_of_catalog(config: &Config, catalog_name: &str) -> Option<CatalogKind> {
    CatalogKind::all().find(|kind| {
        let name = &config.sources.get(*kind).catalog_name;
        !name.is_empty() && name == catalog_name
    })
}

impl LoadRequestDraft {
    /// Fills the open parts from `defaults` and checks the result: every
    /// option must be one the source declares, of its kind.
    pub fn resolve(
        self,
        source: CatalogKind,
        defaults: LoadDefaults,
    ) -> Result<LoadRequest, InvalidLoadRequest> {
        let definition = source.definition();
        let catalog_name =
            non_empty("catalog_name", self.catalog_name)?.unwrap_or(defaults.catalog_name);
        let catalog_version =
            non_empty("catalog_version", self.catalog_version)?.or(defaults.catalog_version);
        let url = non_empty("url", self.url)?.unwrap_or(defaults.url);
        if catalog_name.is_empty() && definition.naming == CatalogNaming::Required {
            return Err(InvalidLoadRequest::new(
                "catalog_name",
                format!("is required: {source} catalogs have no default name"),
            ));
        }
        if url.is_empty() {
            return Err(InvalidLoadRequest::new(
                "url",
                format!("is required: no {} source is configured", source),
            ));
        }
        let mut options = defaults.options;
        for (name, value) in self.options {
            let option = definition.option(&name).ok_or_else(|| {
                let known: Vec<&str> = definition.options.iter().map(|o| o.name).collect();
                InvalidLoadRequest::new(
                    &name,
                    if known.is_empty() {
                        format!("{source} loads take no options of their own")
                    } else {
                        format!("not an option of {source} loads ({})", known.join(", "))
                    },
                )
            })?;
            let value = option
                .accept(value)
                .map_err(|reason| InvalidLoadRequest::new(&name, reason))?;
            options.insert(name, value);
        }
        options.retain(|name, _| definition.option(name).is_some());
        Ok(LoadRequest {
            source,
            catalog_name,
            catalog_version,
            url,
            update_existing: self.update_existing,
            dry_run: self.dry_run,
            allow_shrink: self.allow_shrink,
            options,
        })
    }
}

/// A trimmed value, `None` when absent; an empty or control-character value
/// is refused.
fn non_empty(field: &str, value: Option<String>) -> Result<Option<String>, InvalidLoadRequest> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidLoadRequest::new(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) || value.len() > 2048 {
        return Err(InvalidLoadRequest::new(
            field,
            "must be printable text of at most 2048 bytes",
        ));
    }
    Ok(Some(value.to_owned()))
}

impl LoadRequest {
    /// The value of one of the source's options: the one recorded, else
    /// the declared default (a record older than the option lacks it).
    pub fn option(&self, name: &str) -> OptionValue {
        self.options.get(name).cloned().unwrap_or_else(|| {
            self.source
                .definition()
                .option(name)
                .map_or(OptionValue::Flag(false), |option| (option.default)())
        })
    }

    /// Refuses a local source (a path or `file://` URL) that does not
    /// exist, naming the `url` field; http(s) sources are not checked here.
    pub fn check_local_source(&self) -> Result<(), InvalidLoadRequest> {
        match crate::fetch::local_path(&self.url) {
            Some(path) if !path.exists() => Err(InvalidLoadRequest::new(
                "url",
                format!("{}: no such file or directory", path.display()),
            )),
            _ => Ok(()),
        }
    }

    /// The catalog versions the source at this request's URL offers
    /// (fetched and parsed, not loaded; EESSI without its extensions).
    pub async fn offered_versions(&self, fetcher: &Fetcher) -> Result<Vec<String>, SourceError> {
        (self.source.definition().offered_versions)(self, fetcher).await
    }

    /// Fetches, transforms and loads the catalog this request names, within
    /// the `limits` of its source kind ([`LoadLimits::from_config`]).
    pub async fn run(
        &self,
        db: &sea_orm::DatabaseConnection,
        fetcher: &Fetcher,
        limits: LoadLimits,
        progress: &dyn Progress,
    ) -> Result<LoadReport, LoadError> {
        let options = LoadOptions {
            update_existing: self.update_existing,
            dry_run: self.dry_run,
            allow_shrink: self.allow_shrink,
            limits: limits.shrink,
            bounds: limits.source,
        };
        let fetcher = match limits.max_fetch_bytes {
            Some(max_bytes) => fetcher.with_max_bytes(max_bytes),
            None => fetcher.clone(),
        };
        let context = LoadContext {
            db,
            fetcher: &fetcher,
            options,
            progress,
        };
        (self.source.definition().load)(self, context).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{eessi, spack};

    fn defaults() -> LoadDefaults {
        LoadDefaults {
            catalog_name: "EESSI".into(),
            catalog_version: None,
            url: "https://example.org/".into(),
            options: eessi::DEFINITION.default_options(),
        }
    }

    #[test]
    fn open_parts_take_the_defaults() {
        let request = LoadRequestDraft::default()
            .resolve(eessi::KIND, defaults())
            .unwrap();
        assert_eq!(request.catalog_name, "EESSI");
        assert_eq!(request.url, "https://example.org/");
        assert!(request.option("include_extensions").flag());
        assert!(!request.update_existing);
    }

    #[test]
    fn an_option_the_source_does_not_declare_is_refused_by_name() {
        let draft = LoadRequestDraft {
            options: [("include_extensions".to_owned(), OptionValue::Flag(true))].into(),
            ..Default::default()
        };
        let error = draft.resolve(spack::KIND, defaults()).unwrap_err();
        assert_eq!(error.field, "include_extensions");
        assert!(error.reason.contains("no options"), "{error}");
    }

    #[test]
    fn an_option_of_the_wrong_kind_is_refused_by_name() {
        let draft = LoadRequestDraft {
            options: [(
                "include_extensions".to_owned(),
                OptionValue::List(vec!["yes".into()]),
            )]
            .into(),
            ..Default::default()
        };
        let error = draft.resolve(eessi::KIND, defaults()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "include_extensions: must be true or false"
        );
    }

    #[test]
    fn records_written_before_the_registry_still_read() {
        let old = serde_json::json!({
            "source": "eessi", "catalog_name": "EESSI", "catalog_version": "2023.06",
            "url": "/data/eessi/", "include_extensions": false,
            "update_existing": true, "dry_run": false,
        });
        let request: LoadRequest = serde_json::from_value(old).unwrap();
        assert!(!request.allow_shrink);
        assert_eq!(request.source, eessi::KIND);
        assert!(!request.option("include_extensions").flag());
        let older = serde_json::json!({
            "source": "spack", "catalog_name": "Spack", "catalog_version": null,
            "url": "/data/repology.json", "include_extensions": false,
            "update_existing": true, "dry_run": false,
        });
        let request: LoadRequest = serde_json::from_value(older).unwrap();
        assert_eq!(request.source, spack::KIND);
    }

    #[test]
    fn a_record_keeps_the_options_beside_the_common_fields() {
        let request = LoadRequestDraft::default()
            .resolve(eessi::KIND, defaults())
            .unwrap();
        let record = serde_json::to_value(&request).unwrap();
        assert_eq!(record["include_extensions"], true);
        assert_eq!(record["source"], "eessi");
        let read: LoadRequest = serde_json::from_value(record).unwrap();
        assert_eq!(read, request);
    }

    #[test]
    fn a_missing_local_source_is_refused_by_field() {
        let draft = LoadRequestDraft {
            url: Some("/nonexistent/repology.json".into()),
            ..Default::default()
        };
        let request = draft.resolve(spack::KIND, defaults()).unwrap();
        let error = request.check_local_source().unwrap_err();
        assert_eq!(
            error.to_string(),
            "url: /nonexistent/repology.json: no such file or directory"
        );
        let remote = LoadRequestDraft::default()
            .resolve(spack::KIND, defaults())
            .unwrap();
        assert!(remote.check_local_source().is_ok());
    }

    #[test]
    fn an_empty_name_is_refused_by_field() {
        let draft = LoadRequestDraft {
            catalog_name: Some("  ".into()),
            ..Default::default()
        };
        let error = draft.resolve(eessi::KIND, defaults()).unwrap_err();
        assert_eq!(error.field, "catalog_name");
    }

    #[test]
    fn a_source_without_a_configured_location_needs_one() {
        let defaults = LoadDefaults {
            url: String::new(),
            ..defaults()
        };
        let error = LoadRequestDraft::default()
            .resolve(eessi::KIND, defaults)
            .unwrap_err();
        assert_eq!(error.field, "url");
    }
}
