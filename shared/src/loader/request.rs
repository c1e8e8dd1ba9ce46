//! One load, described as data: what `softcat load` parses from its command
//! line and what a load job carries in its record. Resolving it against the
//! configuration fills in every default, so a job's record says exactly what
//! ran.

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::sources::eessi::EessiSource;
use crate::sources::spack::SpackSource;
use crate::sources::{CatalogSource, SourceError};

use super::{LoadError, LoadLimits, LoadOptions, LoadReport, Progress, load_source};

/// A load of one catalog from its source, with every option spelt out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// Which kind of source.
    pub source: CatalogKind,
    /// The catalog's name (`EESSI`, `Spack`).
    pub catalog_name: String,
    /// The catalog version; `None` takes it from the source (EESSI: the
    /// newest stack version; Spack: the snapshot's `last_update`).
    pub catalog_version: Option<String>,
    /// The source's URL or path (EESSI: the API base; Spack: repology.json).
    pub url: String,
    /// EESSI only: load Python/R/Perl extensions as packages.
    pub include_extensions: bool,
    /// Bring an existing catalog in line; otherwise leave it as it is.
    pub update_existing: bool,
    /// Compute the statistics, write nothing.
    pub dry_run: bool,
    /// Load even when the shrink guard would refuse it (records written
    /// before this option existed lack it: `false`).
    #[serde(default)]
    pub allow_shrink: bool,
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
    /// EESSI extensions; the configured choice by default.
    pub include_extensions: Option<bool>,
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
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Defaults for the parts of a request a caller leaves open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadDefaults {
    /// Catalog name.
    pub catalog_name: String,
    /// Catalog version (`None`: from the source).
    pub catalog_version: Option<String>,
    /// Source URL or path.
    pub url: String,
    /// EESSI extensions.
    pub include_extensions: bool,
}

impl LoadDefaults {
    /// The defaults the configuration file gives for a source kind.
    pub fn from_config(config: &Config, source: CatalogKind) -> Self {
        match source {
            CatalogKind::Eessi => Self {
                catalog_name: config.eessi.catalog_name.clone(),
                catalog_version: config.eessi.version.clone(),
                url: config.eessi.api_url.clone(),
                include_extensions: config.eessi.include_extensions,
            },
            CatalogKind::Spack => Self {
                catalog_name: config.spack.catalog_name.clone(),
                catalog_version: config.spack.version.clone(),
                url: config.spack.data_url.clone(),
                include_extensions: false,
            },
        }
    }
}

/// The source whose configured catalog name is `catalog_name` (`EESSI` →
/// EESSI), for the actions that name a catalog rather than a source.
pub fn source_of_catalog(config: &Config, catalog_name: &str) -> Option<CatalogKind> {
    [CatalogKind::Eessi, CatalogKind::Spack]
        .into_iter()
        .find(|kind| LoadDefaults::from_config(config, *kind).catalog_name == catalog_name)
}

impl LoadRequestDraft {
    /// Fills the open parts from `defaults` and checks the result.
    pub fn resolve(
        self,
        source: CatalogKind,
        defaults: LoadDefaults,
    ) -> Result<LoadRequest, InvalidLoadRequest> {
        let catalog_name =
            non_empty("catalog_name", self.catalog_name)?.unwrap_or(defaults.catalog_name);
        let catalog_version =
            non_empty("catalog_version", self.catalog_version)?.or(defaults.catalog_version);
        let url = non_empty("url", self.url)?.unwrap_or(defaults.url);
        Ok(LoadRequest {
            source,
            catalog_name,
            catalog_version,
            url,
            include_extensions: source == CatalogKind::Eessi
                && self
                    .include_extensions
                    .unwrap_or(defaults.include_extensions),
            update_existing: self.update_existing,
            dry_run: self.dry_run,
            allow_shrink: self.allow_shrink,
        })
    }
}

/// A trimmed value, `None` when absent; an empty or control-character value
/// is refused.
fn non_empty(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, InvalidLoadRequest> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidLoadRequest {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.chars().any(char::is_control) || value.len() > 2048 {
        return Err(InvalidLoadRequest {
            field,
            reason: "must be printable text of at most 2048 bytes".into(),
        });
    }
    Ok(Some(value.to_owned()))
}

impl LoadRequest {
    /// Refuses a local source (a path or `file://` URL) that does not
    /// exist, naming the `url` field; http(s) sources are not checked here.
    pub fn check_local_source(&self) -> Result<(), InvalidLoadRequest> {
        match crate::fetch::local_path(&self.url) {
            Some(path) if !path.exists() => Err(InvalidLoadRequest {
                field: "url",
                reason: format!("{}: no such file or directory", path.display()),
            }),
            _ => Ok(()),
        }
    }

    /// The catalog versions the source at this request's URL offers
    /// (fetched and parsed, not loaded; EESSI without its extensions).
    pub async fn offered_versions(&self, fetcher: &Fetcher) -> Result<Vec<String>, SourceError> {
        match self.source {
            CatalogKind::Eessi => {
                let source = EessiSource {
                    api_url: self.url.clone(),
                    catalog_name: self.catalog_name.clone(),
                    catalog_version: None,
                    include_extensions: false,
                };
                versions_of(&source, fetcher).await
            }
            CatalogKind::Spack => {
                let source = SpackSource {
                    data_url: self.url.clone(),
                    catalog_name: self.catalog_name.clone(),
                    catalog_version: self.catalog_version.clone(),
                };
                versions_of(&source, fetcher).await
            }
        }
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
        match self.source {
            CatalogKind::Eessi => {
                let source = EessiSource {
                    api_url: self.url.clone(),
                    catalog_name: self.catalog_name.clone(),
                    catalog_version: self.catalog_version.clone(),
                    include_extensions: self.include_extensions,
                };
                load_source(db, &source, fetcher, options, progress).await
            }
            CatalogKind::Spack => {
                let source = SpackSource {
                    data_url: self.url.clone(),
                    catalog_name: self.catalog_name.clone(),
                    catalog_version: self.catalog_version.clone(),
                };
                load_source(db, &source, fetcher, options, progress).await
            }
        }
    }
}

async fn versions_of<S: CatalogSource>(
    source: &S,
    fetcher: &Fetcher,
) -> Result<Vec<String>, SourceError> {
    let documents = source.fetch(fetcher).await?;
    Ok(source.versions(&source.parse(&documents)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> LoadDefaults {
        LoadDefaults {
            catalog_name: "EESSI".into(),
            catalog_version: None,
            url: "https://example.org/".into(),
            include_extensions: true,
        }
    }

    #[test]
    fn open_parts_take_the_defaults() {
        let request = LoadRequestDraft::default()
            .resolve(CatalogKind::Eessi, defaults())
            .unwrap();
        assert_eq!(request.catalog_name, "EESSI");
        assert_eq!(request.url, "https://example.org/");
        assert!(request.include_extensions);
        assert!(!request.update_existing);
    }

    #[test]
    fn spack_never_includes_extensions() {
        let draft = LoadRequestDraft {
            include_extensions: Some(true),
            ..Default::default()
        };
        let request = draft.resolve(CatalogKind::Spack, defaults()).unwrap();
        assert!(!request.include_extensions);
    }

    #[test]
    fn records_written_before_allow_shrink_still_read() {
        let old = serde_json::json!({
            "source": "spack", "catalog_name": "Spack", "catalog_version": null,
            "url": "/data/repology.json", "include_extensions": false,
            "update_existing": true, "dry_run": false,
        });
        let request: LoadRequest = serde_json::from_value(old).unwrap();
        assert!(!request.allow_shrink);
    }

    #[test]
    fn a_missing_local_source_is_refused_by_field() {
        let draft = LoadRequestDraft {
            url: Some("/nonexistent/repology.json".into()),
            ..Default::default()
        };
        let request = draft.resolve(CatalogKind::Spack, defaults()).unwrap();
        let error = request.check_local_source().unwrap_err();
        assert_eq!(
            error.to_string(),
            "url: /nonexistent/repology.json: no such file or directory"
        );
        let remote = LoadRequestDraft::default()
            .resolve(CatalogKind::Spack, defaults())
            .unwrap();
        assert!(remote.check_local_source().is_ok());
    }

    #[test]
    fn an_empty_name_is_refused_by_field() {
        let draft = LoadRequestDraft {
            catalog_name: Some("  ".into()),
            ..Default::default()
        };
        let error = draft.resolve(CatalogKind::Eessi, defaults()).unwrap_err();
        assert_eq!(error.field, "catalog_name");
    }
}
