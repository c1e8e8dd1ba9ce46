//! Runtime settings of catalog updates, under the names operators know
//! (`SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED` …). The configuration gives the
//! defaults; staff change them at run time and the changes are kept in
//! Postgres, so every worker and scheduler reads the same values.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::loader::{LoadDefaults, LoadRequest};
use crate::sources::registry::{OptionKind, OptionValues};

/// The effective settings: stored values over configured defaults. Each
/// registered source has its own keys (`SOFTWARE_CATALOG_<ID>_…`, see
/// [`SourceSettings`]); the rest apply to every source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSettings {
    sources: BTreeMap<&'static str, SourceSettings>,
    /// Whether refreshes bring existing catalogs in line with the source
    /// (`SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES`).
    pub update_existing_packages: bool,
    /// Whether the scheduler enqueues the cleanup
    /// (`SOFTWARE_CATALOG_CLEANUP_ENABLED`).
    pub cleanup_enabled: bool,
    /// Age in days after which superseded catalog versions and finished
    /// job records are removed (`SOFTWARE_CATALOG_RETENTION_DAYS`).
    pub retention_days: u32,
}

/// The settings of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// Whether the daily refresh loads it (`…_UPDATE_ENABLED`).
    pub update_enabled: bool,
    /// The version to load; from the source when `None` (`…_VERSION`).
    pub version: Option<String>,
    /// Its location (`…_API_URL`, `…_DATA_URL` …: the source's URL key);
    /// empty when none is set.
    pub url: String,
    /// Its declared options (`…_INCLUDE_EXTENSIONS` …).
    pub options: OptionValues,
}

/// The shape of a setting's value, for documents that describe them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// `true` or `false`.
    Flag,
    /// A version, or `null` for the one the source names.
    Version,
    /// A source location.
    Url,
    /// A list of words.
    List,
    /// A whole number of days.
    Days,
}

/// One setting as documents describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDescription {
    /// Its name (`SOFTWARE_CATALOG_EESSI_API_URL`).
    pub key: String,
    /// The shape of its value.
    pub kind: SettingKind,
    /// What it does.
    pub help: String,
}

/// One settings key, resolved.
#[derive(Debug, Clone, Copy)]
enum Key {
    UpdateEnabled(CatalogKind),
    Version(CatalogKind),
    Url(CatalogKind),
    Option(CatalogKind, &'static str),
    UpdateExistingPackages,
    CleanupEnabled,
    RetentionDays,
}

impl Key {
    /// Every key, in the order the settings list them.
    fn all() -> Vec<(String, Key)> {
        let mut keys = Vec::new();
        for kind in CatalogKind::all() {
            let definition = kind.definition();
            keys.push((
                definition.setting_key("UPDATE_ENABLED"),
                Key::UpdateEnabled(kind),
            ));
            keys.push((definition.setting_key("VERSION"), Key::Version(kind)));
            keys.push((definition.setting_key(definition.url_key), Key::Url(kind)));
            for option in definition.options {
                keys.push((
                    definition.setting_key(option.name),
                    Key::Option(kind, option.name),
                ));
            }
        }
        keys.push((
            "SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES".into(),
            Key::UpdateExistingPackages,
        ));
        keys.push((
            "SOFTWARE_CATALOG_CLEANUP_ENABLED".into(),
            Key::CleanupEnabled,
        ));
        keys.push(("SOFTWARE_CATALOG_RETENTION_DAYS".into(), Key::RetentionDays));
        keys
    }

    fn describe(self) -> (SettingKind, String) {
        match self {
            Key::UpdateEnabled(kind) => (
                SettingKind::Flag,
                format!("Whether the daily refresh loads {kind} catalogs"),
            ),
            Key::Version(kind) => (
                SettingKind::Version,
                format!(
                    "The {kind} catalog version the refresh loads; null for {}",
                    kind.definition().version_help
                ),
            ),
            Key::Url(kind) => (SettingKind::Url, kind.definition().url_help.to_owned()),
            Key::Option(kind, name) => match kind.definition().option(name) {
                Some(option) if option.kind == OptionKind::List => {
                    (SettingKind::List, format!("{kind}: {}", option.help))
                }
                Some(option) => (SettingKind::Flag, format!("{kind}: {}", option.help)),
                None => (SettingKind::Flag, String::new()),
            },
            Key::UpdateExistingPackages => (
                SettingKind::Flag,
                "Whether refreshes bring existing catalogs in line with the source".into(),
            ),
            Key::CleanupEnabled => (
                SettingKind::Flag,
                "Whether the scheduler enqueues the cleanup".into(),
            ),
            Key::RetentionDays => (
                SettingKind::Days,
                "Days after which superseded catalog versions and finished jobs are removed".into(),
            ),
        }
    }

    fn find(name: &str) -> Option<Key> {
        Self::all()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, key)| key)
    }

    /// Whether `null` is a value of its own (a version: "the newest")
    /// rather than "back to the default".
    fn is_nullable(self) -> bool {
        matches!(self, Key::Version(_))
    }
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
            sources: config
                .sources
                .iter()
                .map(|(kind, section)| {
                    (
                        kind.as_str(),
                        SourceSettings {
                            update_enabled: section.update_enabled,
                            version: section.version,
                            url: section.url,
                            options: section.options,
                        },
                    )
                })
                .collect(),
            update_existing_packages: config.jobs.update_existing_packages,
            cleanup_enabled: config.cleanup.enabled,
            retention_days: config.cleanup.retention_days,
        }
    }

    /// Every settings key, in the order they are listed.
    pub fn keys() -> Vec<String> {
        Key::all().into_iter().map(|(key, _)| key).collect()
    }

    /// Every setting with the shape of its value and what it does.
    pub fn describe() -> Vec<SettingDescription> {
        Key::all()
            .into_iter()
            .map(|(key, resolved)| {
                let (kind, help) = resolved.describe();
                SettingDescription { key, kind, help }
            })
            .collect()
    }

    /// The settings of one source.
    pub fn source(&self, kind: CatalogKind) -> SourceSettings {
        self.sources
            .get(kind.as_str())
            .cloned()
            .unwrap_or_else(|| SourceSettings {
                update_enabled: false,
                version: None,
                url: String::new(),
                options: kind.definition().default_options(),
            })
    }

    fn source_mut(&mut self, kind: CatalogKind) -> &mut SourceSettings {
        let settings = self.source(kind);
        self.sources.entry(kind.as_str()).or_insert(settings)
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
        let mut resets = Vec::new();
        for (name, value) in changes {
            let key = Key::find(name).ok_or_else(|| unknown(name))?;
            if value.is_null() && !key.is_nullable() {
                settings.reset(key, &defaults);
                resets.push(name);
            } else {
                settings.set(name, value)?;
            }
        }
        let stored = settings.to_map();
        let txn = db.begin().await?;
        for key in changes.keys() {
            let statement = if resets.contains(&key) {
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
        Key::all()
            .into_iter()
            .map(|(name, key)| (name, self.value(key)))
            .collect()
    }

    fn value(&self, key: Key) -> Value {
        match key {
            Key::UpdateEnabled(kind) => self.source(kind).update_enabled.into(),
            Key::Version(kind) => self.source(kind).version.into(),
            Key::Url(kind) => self.source(kind).url.into(),
            Key::Option(kind, name) => self
                .source(kind)
                .options
                .get(name)
                .map_or(Value::Null, |value| value.to_json()),
            Key::UpdateExistingPackages => self.update_existing_packages.into(),
            Key::CleanupEnabled => self.cleanup_enabled.into(),
            Key::RetentionDays => self.retention_days.into(),
        }
    }

    /// Defaults of an enqueued load of a source kind: the catalog name from
    /// the configuration, version, URL and options from these settings.
    pub fn load_defaults(&self, config: &Config, kind: CatalogKind) -> LoadDefaults {
        let source = self.source(kind);
        LoadDefaults {
            catalog_version: source.version,
            url: source.url,
            options: source.options,
            ..LoadDefaults::from_config(config, kind)
        }
    }

    /// The load a refresh runs for a source kind, or why it skips it.
    pub fn refresh_load(&self, config: &Config, kind: CatalogKind) -> Result<LoadRequest, String> {
        let definition = kind.definition();
        let key = definition.setting_key(definition.url_key);
        if !self.source(kind).update_enabled {
            return Err(format!("updates of {kind} catalogs are disabled"));
        }
        let defaults = self.load_defaults(config, kind);
        if defaults.url.is_empty() {
            return Err(format!("no {kind} source is set ({key})"));
        }
        check_source_url(&key, &defaults.url).map_err(|error| error.to_string())?;
        Ok(LoadRequest {
            source: kind,
            catalog_name: defaults.catalog_name,
            catalog_version: defaults.catalog_version,
            url: defaults.url,
            update_existing: self.update_existing_packages,
            dry_run: false,
            allow_shrink: false,
            options: defaults.options,
        })
    }

    fn reset(&mut self, key: Key, defaults: &Self) {
        match key {
            Key::UpdateEnabled(kind) => {
                self.source_mut(kind).update_enabled = defaults.source(kind).update_enabled
            }
            Key::Version(kind) => self.source_mut(kind).version = defaults.source(kind).version,
            Key::Url(kind) => self.source_mut(kind).url = defaults.source(kind).url,
            Key::Option(kind, name) => {
                if let Some(value) = defaults.source(kind).options.get(name) {
                    self.source_mut(kind)
                        .options
                        .insert(name.to_owned(), value.clone());
                }
            }
            Key::UpdateExistingPackages => {
                self.update_existing_packages = defaults.update_existing_packages
            }
            Key::CleanupEnabled => self.cleanup_enabled = defaults.cleanup_enabled,
            Key::RetentionDays => self.retention_days = defaults.retention_days,
        }
    }

    /// Sets one key from a JSON value, checking its type and range.
    fn set(&mut self, name: &str, value: &Value) -> Result<(), InvalidSetting> {
        match Key::find(name).ok_or_else(|| unknown(name))? {
            Key::UpdateEnabled(kind) => {
                self.source_mut(kind).update_enabled = boolean(name, value)?
            }
            Key::Version(kind) => self.source_mut(kind).version = version(name, value)?,
            Key::Url(kind) => self.source_mut(kind).url = source_url(name, value)?,
            Key::Option(kind, option) => {
                let declared = kind
                    .definition()
                    .option(option)
                    .ok_or_else(|| unknown(name))?;
                let value = declared
                    .from_json(value)
                    .map_err(|reason| invalid(name, reason))?;
                self.source_mut(kind)
                    .options
                    .insert(option.to_owned(), value);
            }
            Key::UpdateExistingPackages => self.update_existing_packages = boolean(name, value)?,
            Key::CleanupEnabled => self.cleanup_enabled = boolean(name, value)?,
            Key::RetentionDays => self.retention_days = retention(name, value)?,
        }
        Ok(())
    }
}

impl Serialize for CatalogSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
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
    use crate::sources::{eessi, spack};
    use serde_json::json;

    fn settings() -> CatalogSettings {
        CatalogSettings::defaults(&Config::default())
    }

    #[test]
    fn documented_defaults() {
        let settings = settings();
        assert!(settings.source(eessi::KIND).update_enabled);
        assert!(settings.source(spack::KIND).update_enabled);
        assert!(settings.source(eessi::KIND).options["include_extensions"].flag());
        assert!(settings.update_existing_packages);
        assert!(!settings.cleanup_enabled);
        assert_eq!(settings.retention_days, 90);
        let map = settings.to_map();
        for key in [
            "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED",
            "SOFTWARE_CATALOG_EESSI_VERSION",
            "SOFTWARE_CATALOG_EESSI_API_URL",
            "SOFTWARE_CATALOG_EESSI_INCLUDE_EXTENSIONS",
            "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED",
            "SOFTWARE_CATALOG_SPACK_VERSION",
            "SOFTWARE_CATALOG_SPACK_DATA_URL",
            "SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES",
            "SOFTWARE_CATALOG_CLEANUP_ENABLED",
            "SOFTWARE_CATALOG_RETENTION_DAYS",
        ] {
            assert!(map.contains_key(key), "{key}");
        }
        assert_eq!(map.len(), CatalogSettings::keys().len());
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
        assert_eq!(settings.source(eessi::KIND).url, "file:///data/eessi/");
        assert_eq!(
            settings.source(spack::KIND).version.as_deref(),
            Some("2026-11-01")
        );
        assert_eq!(settings.retention_days, 30);
    }

    #[test]
    fn a_disabled_source_is_skipped_with_its_reason() {
        let mut settings = settings();
        settings
            .set("SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED", &json!(false))
            .unwrap();
        let reason = settings
            .refresh_load(&Config::default(), spack::KIND)
            .unwrap_err();
        assert!(reason.contains("disabled"), "{reason}");
        let load = settings
            .refresh_load(&Config::default(), eessi::KIND)
            .unwrap();
        assert!(load.update_existing && load.option("include_extensions").flag());
    }
}
