//! Runtime settings of catalog updates, under the names operators know
//! (`SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED` …). The configuration gives the
//! defaults; staff change them at run time and the changes are kept in
//! Postgres, so every worker and scheduler reads the same values.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::loader::{LoadDefaults, LoadRequest};

/// The effective settings: stored values over configured defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogSettings {
    /// Whether the daily refresh loads EESSI.
    #[serde(rename = "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED")]
    pub eessi_update_enabled: bool,
    /// EESSI stack version to load; the newest when null.
    #[serde(rename = "SOFTWARE_CATALOG_EESSI_VERSION")]
    pub eessi_version: Option<String>,
    /// Base URL of the EESSI API documents.
    #[serde(rename = "SOFTWARE_CATALOG_EESSI_API_URL")]
    pub eessi_api_url: String,
    /// Whether EESSI extensions are loaded as packages.
    #[serde(rename = "SOFTWARE_CATALOG_EESSI_INCLUDE_EXTENSIONS")]
    pub eessi_include_extensions: bool,
    /// Whether the daily refresh loads Spack.
    #[serde(rename = "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED")]
    pub spack_update_enabled: bool,
    /// Spack catalog version; the source's `last_update` when null.
    #[serde(rename = "SOFTWARE_CATALOG_SPACK_VERSION")]
    pub spack_version: Option<String>,
    /// URL of Spack's repology.json.
    #[serde(rename = "SOFTWARE_CATALOG_SPACK_DATA_URL")]
    pub spack_data_url: String,
    /// Whether refreshes bring existing catalogs in line with the source.
    #[serde(rename = "SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES")]
    pub update_existing_packages: bool,
    /// Whether the scheduler enqueues the cleanup.
    #[serde(rename = "SOFTWARE_CATALOG_CLEANUP_ENABLED")]
    pub cleanup_enabled: bool,
    /// Age in days after which superseded catalog versions and finished
    /// job records are removed.
    #[serde(rename = "SOFTWARE_CATALOG_RETENTION_DAYS")]
    pub retention_days: u32,
}

/// Why a settings change was refused; names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidSetting {
    /// The offending key.
    pub key: String,
    /// What is wrong with its value.
    pub reason: String,
}

/// Why settings could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value was refused.
    #[error(transparent)]
    Invalid(#[from] InvalidSetting),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Longest retention accepted: a century.
const MAX_RETENTION_DAYS: u64 = 36_500;

impl CatalogSettings {
    /// The defaults the configuration gives.
    pub fn defaults(config: &Config) -> Self {
        Self {
            eessi_update_enabled: config.eessi.update_enabled,
            eessi_version: config.eessi.version.clone(),
            eessi_api_url: config.eessi.api_url.clone(),
            eessi_include_extensions: config.eessi.include_extensions,
            spack_update_enabled: config.spack.update_enabled,
            spack_version: config.spack.version.clone(),
            spack_data_url: config.spack.data_url.clone(),
            update_existing_packages: config.jobs.update_existing_packages,
            cleanup_enabled: config.cleanup.enabled,
            retention_days: config.cleanup.retention_days,
        }
    }

    /// The effective settings: the stored values over the defaults. A stored
    /// value this version cannot use is logged and the default kept.
    pub async fn read(db: &impl ConnectionTrait, config: &Config) -> Result<Self, DbErr> {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT key, value FROM settings",
            ))
            .await?;
        let mut settings = Self::defaults(config);
        for row in rows {
            let key: String = row.try_get("", "key")?;
            let value: Value = row.try_get("", "value")?;
            if let Err(error) = settings.set(&key, &value) {
                tracing::warn!(%error, "ignoring a stored setting");
            }
        }
        Ok(settings)
    }

    /// Validates and stores a partial change (key → value; null resets a
    /// key to its configured default, except for the versions, where null
    /// means "the newest"), all or nothing, and returns the new settings.
    pub async fn update(
        db: &DatabaseConnection,
        config: &Config,
        changes: &Map<String, Value>,
    ) -> Result<Self, SettingsError> {
        let defaults = Self::defaults(config);
        let mut settings = Self::read(db, config).await?;
        for (key, value) in changes {
            if value.is_null() && !Self::is_nullable(key) {
                settings.reset(key, &defaults)?;
            } else {
                settings.set(key, value)?;
            }
        }
        let stored = settings.to_map();
        let txn = db.begin().await?;
        for (key, change) in changes {
            let statement = if change.is_null() && !Self::is_nullable(key) {
                Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "DELETE FROM settings WHERE key = $1",
                    [key.clone().into()],
                )
            } else {
                let value = stored.get(key).cloned().unwrap_or(Value::Null);
                Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = now()",
                    [key.clone().into(), value.into()],
                )
            };
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;
        tracing::info!(keys = ?changes.keys().collect::<Vec<_>>(), "settings changed");
        Ok(settings)
    }

    /// The settings as a JSON object under their operator names.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Defaults of an enqueued load of a source kind: the catalog name from
    /// the configuration, version, URL and extensions from these settings.
    pub fn load_defaults(&self, config: &Config, kind: CatalogKind) -> LoadDefaults {
        let configured = LoadDefaults::from_config(config, kind);
        match kind {
            CatalogKind::Eessi => LoadDefaults {
                catalog_version: self.eessi_version.clone(),
                url: self.eessi_api_url.clone(),
                include_extensions: self.eessi_include_extensions,
                ..configured
            },
            CatalogKind::Spack => LoadDefaults {
                catalog_version: self.spack_version.clone(),
                url: self.spack_data_url.clone(),
                include_extensions: false,
                ..configured
            },
        }
    }

    /// The load a refresh runs for a source kind, or why it skips it.
    pub fn refresh_load(&self, config: &Config, kind: CatalogKind) -> Result<LoadRequest, String> {
        let (enabled, key) = match kind {
            CatalogKind::Eessi => (self.eessi_update_enabled, "SOFTWARE_CATALOG_EESSI_API_URL"),
            CatalogKind::Spack => (self.spack_update_enabled, "SOFTWARE_CATALOG_SPACK_DATA_URL"),
        };
        if !enabled {
            return Err(format!("updates of {kind} catalogs are disabled"));
        }
        let defaults = self.load_defaults(config, kind);
        check_source_url(key, &defaults.url).map_err(|error| error.to_string())?;
        Ok(LoadRequest {
            source: kind,
            catalog_name: defaults.catalog_name,
            catalog_version: defaults.catalog_version,
            url: defaults.url,
            include_extensions: defaults.include_extensions,
            update_existing: self.update_existing_packages,
            dry_run: false,
            allow_shrink: false,
        })
    }

    fn is_nullable(key: &str) -> bool {
        matches!(
            key,
            "SOFTWARE_CATALOG_EESSI_VERSION" | "SOFTWARE_CATALOG_SPACK_VERSION"
        )
    }

    fn reset(&mut self, key: &str, defaults: &Self) -> Result<(), InvalidSetting> {
        let value = defaults
            .to_map()
            .get(key)
            .cloned()
            .ok_or_else(|| unknown(key))?;
        self.set(key, &value)
    }

    /// Sets one key from a JSON value, checking its type and range.
    fn set(&mut self, key: &str, value: &Value) -> Result<(), InvalidSetting> {
        match key {
            "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED" => {
                self.eessi_update_enabled = boolean(key, value)?
            }
            "SOFTWARE_CATALOG_EESSI_VERSION" => self.eessi_version = version(key, value)?,
            "SOFTWARE_CATALOG_EESSI_API_URL" => self.eessi_api_url = source_url(key, value)?,
            "SOFTWARE_CATALOG_EESSI_INCLUDE_EXTENSIONS" => {
                self.eessi_include_extensions = boolean(key, value)?
            }
            "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED" => {
                self.spack_update_enabled = boolean(key, value)?
            }
            "SOFTWARE_CATALOG_SPACK_VERSION" => self.spack_version = version(key, value)?,
            "SOFTWARE_CATALOG_SPACK_DATA_URL" => self.spack_data_url = source_url(key, value)?,
            "SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES" => {
                self.update_existing_packages = boolean(key, value)?
            }
            "SOFTWARE_CATALOG_CLEANUP_ENABLED" => self.cleanup_enabled = boolean(key, value)?,
            "SOFTWARE_CATALOG_RETENTION_DAYS" => self.retention_days = retention(key, value)?,
            _ => return Err(unknown(key)),
        }
        Ok(())
    }
}

fn unknown(key: &str) -> InvalidSetting {
    invalid(key, "unknown setting")
}

fn invalid(key: &str, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key: key.chars().take(100).collect(),
        reason: reason.into(),
    }
}

fn boolean(key: &str, value: &Value) -> Result<bool, InvalidSetting> {
    value
        .as_bool()
        .ok_or_else(|| invalid(key, "must be true or false"))
}

fn retention(key: &str, value: &Value) -> Result<u32, InvalidSetting> {
    match value.as_u64() {
        Some(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Ok(days as u32),
        _ => Err(invalid(
            key,
            format!("must be a whole number of days from 1 to {MAX_RETENTION_DAYS}"),
        )),
    }
}

fn version(key: &str, value: &Value) -> Result<Option<String>, InvalidSetting> {
    match value {
        Value::Null => Ok(None),
        Value::String(text)
            if !text.trim().is_empty()
                && text.len() <= 100
                && !text.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            Ok(Some(text.clone()))
        }
        _ => Err(invalid(
            key,
            "must be null (the newest) or a version without spaces, at most 100 characters",
        )),
    }
}

fn source_url(key: &str, value: &Value) -> Result<String, InvalidSetting> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(key, "must be a URL string"))?;
    check_source_url(key, text)?;
    Ok(text.to_owned())
}

/// A source location a worker can read, wherever it runs: an http(s) or
/// file URL, or an absolute path (`key` names the field in the error). The
/// runtime settings and the API's load jobs take only these.
pub fn check_source_url(key: &str, text: &str) -> Result<(), InvalidSetting> {
    if text.starts_with('/') && !text.chars().any(char::is_control) {
        return Ok(());
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(url) if url.scheme() == "file" => Ok(()),
        _ => Err(invalid(
            key,
            format!("{text:?} is not an http(s) or file URL or an absolute path"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> CatalogSettings {
        CatalogSettings::defaults(&Config::default())
    }

    #[test]
    fn documented_defaults() {
        let settings = settings();
        assert!(settings.eessi_update_enabled && settings.spack_update_enabled);
        assert!(settings.eessi_include_extensions && settings.update_existing_packages);
        assert!(!settings.cleanup_enabled);
        assert_eq!(settings.retention_days, 90);
        assert_eq!(settings.to_map().len(), 10);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("SOFTWARE_CATALOG_RETENTION_DAYS", json!(-1)),
            ("SOFTWARE_CATALOG_RETENTION_DAYS", json!(0)),
            ("SOFTWARE_CATALOG_EESSI_API_URL", json!("not a url")),
            (
                "SOFTWARE_CATALOG_SPACK_DATA_URL",
                json!("ftp://example.org/x"),
            ),
            ("SOFTWARE_CATALOG_CLEANUP_ENABLED", json!("yes")),
            ("SOFTWARE_CATALOG_EESSI_VERSION", json!("2023 06")),
            ("SOFTWARE_CATALOG_NOPE", json!(true)),
        ];
        for (key, value) in cases {
            let error = settings().set(key, &value).unwrap_err();
            assert_eq!(error.key, key, "{value}");
        }
    }

    #[test]
    fn good_values_are_taken() {
        let mut settings = settings();
        settings
            .set(
                "SOFTWARE_CATALOG_EESSI_API_URL",
                &json!("file:///data/eessi/"),
            )
            .unwrap();
        settings
            .set("SOFTWARE_CATALOG_SPACK_VERSION", &json!("2026-11-01"))
            .unwrap();
        settings
            .set("SOFTWARE_CATALOG_RETENTION_DAYS", &json!(30))
            .unwrap();
        assert_eq!(settings.eessi_api_url, "file:///data/eessi/");
        assert_eq!(settings.spack_version.as_deref(), Some("2026-11-01"));
        assert_eq!(settings.retention_days, 30);
    }

    #[test]
    fn a_disabled_source_is_skipped_with_its_reason() {
        let mut settings = settings();
        settings.spack_update_enabled = false;
        let reason = settings
            .refresh_load(&Config::default(), CatalogKind::Spack)
            .unwrap_err();
        assert!(reason.contains("disabled"), "{reason}");
        let load = settings
            .refresh_load(&Config::default(), CatalogKind::Eessi)
            .unwrap();
        assert!(load.update_existing && load.include_extensions);
    }
}
