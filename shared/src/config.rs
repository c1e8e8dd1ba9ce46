//! One typed configuration, read once at start-up and handed down.
//!
//! Layers, later ones win: built-in defaults, then `softcat.toml` (or the file
//! named by `SOFTCAT_CONFIG`), then environment variables with the `SOFTCAT_`
//! prefix (`__` separates nested keys, e.g. `SOFTCAT_FETCH__MAX_BYTES`), and
//! finally the conventional `DATABASE_URL` and `REDIS_URL`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::loader::SourceBounds;
use crate::suggest::closest;

mod sources;

pub use sources::{SourceConfig, SourcesConfig};

/// `SOFTCAT_` variables that are not configuration keys: the config file's
/// path, logging, the binary the scripts run, and the test and benchmark
/// harnesses' own settings.
const NOT_CONFIGURATION: [&str; 8] = [
    "CONFIG",
    "LOG",
    "LOG_FORMAT",
    "BIN",
    "DATA_DIR",
    "BENCH_SERVER",
    "BENCH_REQUESTS",
    "TEST_SERVERS",
];

/// The default configuration file, looked up in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "softcat.toml";

/// Everything a softcat process can be configured with. Unknown keys are
/// refused: a top-level key that is not a field must be a source's section
/// ([`SourcesConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Postgres connection URL of the catalog database.
    pub database_url: String,
    /// Redis connection URL of the job queue.
    pub redis_url: String,
    /// Limits applied to every fetched source.
    pub fetch: FetchConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// The job queue and its workers.
    pub jobs: JobsConfig,
    /// The scheduler's timetable.
    pub scheduler: SchedulerConfig,
    /// Removal of old catalog versions and job records (defaults of the
    /// runtime settings).
    pub cleanup: CleanupConfig,
    /// What one source may hold (packages, versions per package, targets
    /// per version); beyond it entries are skipped and named.
    pub loader: SourceBounds,
    /// One section per registered source: `[eessi]`, `[spack]` …
    #[serde(flatten)]
    pub sources: SourcesConfig,
}

/// The configuration's own top-level keys (the sources' sections come
/// from the registry).
const OWN_KEYS: [&str; 8] = [
    "database_url",
    "redis_url",
    "fetch",
    "api",
    "jobs",
    "scheduler",
    "cleanup",
    "loader",
];

/// How jobs are queued, retried and run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Prefix of the Redis keys of the queue; deployments sharing a Redis
    /// keep apart by it.
    pub queue: String,
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// Attempts a job gets before it is failed for good.
    pub max_attempts: u32,
    /// Wait before the first retry, in seconds; doubled at each retry.
    pub retry_backoff_secs: u64,
    /// Longest one attempt may run, in seconds.
    pub timeout_secs: u64,
    /// Seconds between a worker's heartbeats. An idle worker is woken when a
    /// job is pushed, and also looks for due retries at each heartbeat.
    pub heartbeat_secs: u64,
    /// Heartbeats a worker may miss before its jobs are handed to others.
    pub missed_heartbeats: usize,
    /// Seconds a running job may take to finish after SIGTERM before the
    /// worker stops and the job is handed back.
    pub shutdown_grace_secs: u64,
    /// Whether refresh jobs bring existing catalogs in line (default of
    /// `SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES`).
    pub update_existing_packages: bool,
    /// Address a worker serves `GET /metrics` on (e.g. `0.0.0.0:9101`);
    /// unset: no metrics endpoint.
    pub metrics_listen: Option<String>,
}

/// When the scheduler enqueues the daily refresh (and the cleanup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Cron expression: five crontab fields (`0 3 * * *` is daily at
    /// 03:00) or six with seconds first (`0 0 3 * * *`).
    pub refresh_cron: String,
    /// IANA time zone the expression is read in, e.g. `Europe/Amsterdam`.
    pub timezone: String,
}

/// Defaults of the cleanup settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupConfig {
    /// Whether the scheduler enqueues the cleanup.
    pub enabled: bool,
    /// Age in days after which superseded catalog versions and finished job
    /// records are removed.
    pub retention_days: u32,
}

/// How the API listens and whom it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Base URL used in the `url` of objects and in `next`/`previous` links
    /// (e.g. `https://softcat.example.org`); derived from the request's Host
    /// header when unset.
    pub public_url: Option<String>,
    /// Whether catalog data may be read without a token.
    pub anonymous_reads: bool,
    /// Seconds a running request may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Seconds a connection has to send a request's headers, counted from
    /// its opening or the end of its previous answer; one that has not
    /// finished them by then (a silent, slow or idle keep-alive
    /// connection) is closed.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; further ones are answered 503 and
    /// closed until some close. Keep it below the process's file limit.
    pub max_connections: usize,
    /// Connections one client address (an IPv6 client: its /64) may hold at
    /// once, so that one client cannot take them all; 0 for no such limit
    /// (behind a reverse proxy every connection comes from the proxy).
    pub max_connections_per_client: usize,
}

impl ApiConfig {
    /// The header-read timeout as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
}

/// Bounds on fetching untrusted source data: size, time and retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Largest accepted source document, in bytes.
    pub max_bytes: u64,
    /// Time allowed to establish a connection, in seconds.
    pub connect_timeout_secs: u64,
    /// Longest pause between two reads of a response body, in seconds.
    pub read_timeout_secs: u64,
    /// Time allowed for reading one document, in seconds: one deadline for
    /// all its attempts (retries included) and the waits between them.
    pub total_timeout_secs: u64,
    /// Further attempts after a failed request that may succeed when repeated.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; doubled at each retry.
    pub retry_backoff_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/softcat".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            fetch: FetchConfig::default(),
            api: ApiConfig {
                listen: "127.0.0.1:8000".into(),
                public_url: None,
                anonymous_reads: false,
                shutdown_grace_secs: 10,
                header_read_timeout_secs: 30,
                max_connections: 1024,
                max_connections_per_client: 128,
            },
            jobs: JobsConfig {
                queue: "softcat:jobs".into(),
                concurrency: 1,
                max_attempts: 3,
                retry_backoff_secs: 30,
                timeout_secs: 3600,
                heartbeat_secs: 1,
                missed_heartbeats: 10,
                shutdown_grace_secs: 30,
                update_existing_packages: true,
                metrics_listen: None,
            },
            scheduler: SchedulerConfig {
                refresh_cron: "0 0 3 * * *".into(),
                timezone: "UTC".into(),
            },
            cleanup: CleanupConfig {
                enabled: false,
                retention_days: 90,
            },
            loader: SourceBounds::DEFAULT,
            sources: SourcesConfig::default(),
        }
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            connect_timeout_secs: 10,
            read_timeout_secs: 30,
            total_timeout_secs: 600,
            retries: 3,
            retry_backoff_ms: 500,
        }
    }
}

impl JobsConfig {
    /// How long a worker may stay silent (no heartbeat in Redis, no lease
    /// renewal in Postgres) before its jobs go to other workers.
    pub fn silence_limit(&self) -> Duration {
        Duration::from_secs(
            self.heartbeat_secs
                .saturating_mul(self.missed_heartbeats as u64),
        )
    }
}

impl FetchConfig {
    /// The connect timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// The read timeout as a duration.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs)
    }
    /// The deadline of one document's fetch, retries included, as a duration.
    pub fn total_timeout(&self) -> Duration {
        Duration::from_secs(self.total_timeout_secs)
    }
}

/// A configuration that cannot be used; its message names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the configuration from its layers. `file` overrides the file
    /// location; without it `SOFTCAT_CONFIG` or `./softcat.toml` is used, and
    /// a missing default file is not an error.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = Self::file(file)?;
        let config: Self = Self::figment(&file).extract().map_err(|error| {
            // figment may collect several errors; the first one names a key.
            let first = error.into_iter().next();
            ConfigError(first.map_or_else(|| "invalid".to_owned(), |e| describe(&e)))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values that parse but cannot work, naming the key.
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "api.header_read_timeout_secs",
                self.api.header_read_timeout_secs,
            ),
            ("api.max_connections", self.api.max_connections as u64),
            ("jobs.concurrency", self.jobs.concurrency as u64),
            ("jobs.max_attempts", u64::from(self.jobs.max_attempts)),
            ("jobs.timeout_secs", self.jobs.timeout_secs),
            ("jobs.heartbeat_secs", self.jobs.heartbeat_secs),
            ("jobs.missed_heartbeats", self.jobs.missed_heartbeats as u64),
            (
                "cleanup.retention_days",
                u64::from(self.cleanup.retention_days),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{key} must be at least 1")));
            }
        }
        let shares = self.sources.iter().flat_map(|(kind, section)| {
            [
                (
                    format!("{kind}.max_skipped_share"),
                    section.max_skipped_share,
                ),
                (
                    format!("{kind}.max_deleted_share"),
                    section.max_deleted_share,
                ),
            ]
        });
        for (key, value) in shares {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError(format!(
                    "{key} must be a share from 0 to 1 (0.25 is 25 %), not {value}"
                )));
            }
        }
        if self.jobs.queue.trim().is_empty() {
            return Err(ConfigError("jobs.queue must not be empty".into()));
        }
        Ok(())
    }

    /// A configuration error for a key whose value a later stage refused
    /// (a cron expression, a time zone).
    pub fn invalid(key: &str, reason: impl std::fmt::Display) -> ConfigError {
        ConfigError(format!("{key}: {reason}"))
    }

    /// Whether the file or the environment gives `key` (rather than the
    /// built-in defaults): standalone replaces a database or queue nobody
    /// configured with embedded ones.
    pub fn is_given(file: Option<&Path>, key: &str) -> Result<bool, ConfigError> {
        Ok(Self::given(&Self::file(file)?).contains(key))
    }

    /// The configuration file: `file`, else `SOFTCAT_CONFIG`, else
    /// `./softcat.toml`; only a missing default file is not an error.
    fn file(file: Option<&Path>) -> Result<PathBuf, ConfigError> {
        match file {
            Some(path) if !path.exists() => Err(ConfigError(format!(
                "file {} does not exist",
                path.display()
            ))),
            Some(path) => Ok(path.to_path_buf()),
            None => Ok(std::env::var_os("SOFTCAT_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE))),
        }
    }

    /// The layered figment behind [`Config::load`], exposed for tests.
    pub fn figment(file: &Path) -> Figment {
        Figment::from(Serialized::defaults(Config::default())).merge(Self::given(file))
    }

    /// The layers above the defaults.
    fn given(file: &Path) -> Figment {
        Figment::from(Toml::file(file))
            .merge(
                Env::prefixed("SOFTCAT_")
                    .ignore(&NOT_CONFIGURATION)
                    .split("__"),
            )
            .merge(
                Env::raw()
                    .only(&conventional_variables())
                    .map(|key| key.as_str().to_ascii_lowercase().into()),
            )
    }
}

/// The conventional `DATABASE_URL` and `REDIS_URL` that are set to
/// something: an empty `DATABASE_URL=` counts as unset, as shells and
/// Compose files leave it.
fn conventional_variables() -> Vec<&'static str> {
    ["DATABASE_URL", "REDIS_URL"]
        .into_iter()
        .filter(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
        .collect()
}

/// One line for a figment error: the dotted key (without figment's profile
/// name) and what is wrong with it; an unknown key with the closest valid one.
fn describe(error: &figment::Error) -> String {
    let path: Vec<String> = error.path.iter().map(|part| part.to_lowercase()).collect();
    let key = path.join(".");
    match &error.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            let field = field.to_lowercase();
            let parent = &path[..path.len().saturating_sub(1)];
            let dotted = |name: &str| {
                parent
                    .iter()
                    .map(String::as_str)
                    .chain([name])
                    .collect::<Vec<_>>()
                    .join(".")
            };
            let key = if key.is_empty() { dotted(&field) } else { key };
            match closest(&field, expected) {
                Some(name) => format!("{key}: unknown key; did you mean {}?", dotted(name)),
                None => {
                    let valid: Vec<String> = expected.iter().map(|name| dotted(name)).collect();
                    format!("{key}: unknown key; valid keys are {}", valid.join(", "))
                }
            }
        }
        kind if key.is_empty() => kind.to_string(),
        kind => format!("{key}: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{eessi, spack};
    use figment::Jail;

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "softcat.toml",
                "database_url = \"postgres://file/db\"\n[fetch]\nretries = 7\n",
            )?;
            jail.set_env("SOFTCAT_FETCH__RETRIES", "9");
            jail.set_env("DATABASE_URL", "postgres://env/db");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.database_url, "postgres://env/db");
            assert_eq!(config.fetch.retries, 9);
            assert_eq!(config.sources.get(spack::KIND).catalog_name, "Spack");
            Ok(())
        });
    }

    #[test]
    fn a_key_is_given_by_the_file_or_the_environment_not_by_the_defaults() {
        Jail::expect_with(|jail| {
            let given = |key| Config::is_given(None, key).map_err(|e| e.to_string());
            assert!(!given("database_url")?);
            assert!(!given("redis_url")?);
            jail.create_file("softcat.toml", "redis_url = \"redis://file\"\n")?;
            jail.set_env("DATABASE_URL", "postgres://env/db");
            assert!(given("database_url")?);
            assert!(given("redis_url")?);
            Ok(())
        });
    }

    #[test]
    fn bad_value_names_the_key() {
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_FETCH__MAX_BYTES", "lots");
            let error = Config::load(None).expect_err("a string is not a size");
            let message = error.to_string();
            assert!(
                message.to_lowercase().contains("fetch.max_bytes"),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
            Ok(())
        });
    }

    #[test]
    fn a_value_that_cannot_work_names_the_key() {
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_JOBS__CONCURRENCY", "0");
            let error = Config::load(None).expect_err("no worker runs zero jobs");
            assert!(error.to_string().contains("jobs.concurrency"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn shrink_limits_are_per_source_and_shares() {
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_SPACK__MAX_DELETED_SHARE", "0.5");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.sources.get(spack::KIND).max_deleted_share, 0.5);
            assert_eq!(config.sources.get(eessi::KIND).max_deleted_share, 0.25);
            assert_eq!(config.sources.get(eessi::KIND).max_skipped_share, 0.1);
            jail.set_env("SOFTCAT_EESSI__MAX_SKIPPED_SHARE", "10");
            let error = Config::load(None).expect_err("10 is not a share");
            assert!(
                error.to_string().contains("eessi.max_skipped_share"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_rejected() {
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "[eessi]\napi_ulr = \"x\"\n")?;
            let error = Config::load(None).expect_err("typo must not pass silently");
            assert_eq!(
                error.to_string(),
                "configuration: eessi.api_ulr: unknown key; did you mean eessi.api_url?"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "[esssi]\napi_url = \"x\"\n")?;
            let error = Config::load(None).expect_err("no such section");
            assert_eq!(
                error.to_string(),
                "configuration: esssi: unknown key; did you mean eessi?"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file(
                "softcat.toml",
                "[spack]\ndata_url = \"/srv/repology.json\"\nversion = \"2026-11-01\"\n",
            )?;
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let spack = config.sources.get(spack::KIND);
            assert_eq!(spack.url, "/srv/repology.json");
            assert_eq!(spack.version.as_deref(), Some("2026-11-01"));
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_names_the_closest_valid_one() {
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "[fetch]\nmax_byte = 3\n")?;
            let error = Config::load(None).expect_err("a typo");
            assert_eq!(
                error.to_string(),
                "configuration: fetch.max_byte: unknown key; did you mean fetch.max_bytes?"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_FETCH__MAX_BYTE", "3");
            let error = Config::load(None).expect_err("a typo");
            assert_eq!(
                error.to_string(),
                "configuration: fetch.max_byte: unknown key; did you mean fetch.max_bytes?"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "databse_url = \"x\"\n")?;
            let error = Config::load(None).expect_err("a typo");
            assert_eq!(
                error.to_string(),
                "configuration: databse_url: unknown key; did you mean database_url?"
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_far_from_any_lists_the_valid_ones() {
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "[cleanup]\nwhatever = 1\n")?;
            let error = Config::load(None).expect_err("no such key");
            assert_eq!(
                error.to_string(),
                "configuration: cleanup.whatever: unknown key; valid keys are \
                 cleanup.enabled, cleanup.retention_days"
            );
            Ok(())
        });
    }

    #[test]
    fn an_empty_database_url_is_unset() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "");
            jail.set_env("REDIS_URL", "");
            assert_eq!(
                Config::load(None).map_err(|e| e.to_string())?,
                Config::default()
            );
            assert!(!Config::is_given(None, "database_url").map_err(|e| e.to_string())?);
            Ok(())
        });
    }

    #[test]
    fn harness_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_DATA_DIR", "/srv/data");
            jail.set_env("SOFTCAT_BENCH_REQUESTS", "10");
            jail.set_env("SOFTCAT_BIN", "/usr/local/bin/softcat");
            assert_eq!(
                Config::load(None).map_err(|e| e.to_string())?,
                Config::default()
            );
            Ok(())
        });
    }
}
