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

/// `SOFTCAT_` variables that are not configuration keys: the config file's
/// path, logging, and the test and benchmark harnesses' own settings.
const NOT_CONFIGURATION: [&str; 6] = [
    "CONFIG",
    "LOG",
    "LOG_FORMAT",
    "DATA_DIR",
    "BENCH_SERVER",
    "BENCH_REQUESTS",
];

/// The default configuration file, looked up in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "softcat.toml";

/// Everything a softcat process can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Postgres connection URL of the catalog database.
    pub database_url: String,
    /// Redis connection URL of the job queue.
    pub redis_url: String,
    /// Limits applied to every fetched source.
    pub fetch: FetchConfig,
    /// Defaults for loading EESSI catalogs.
    pub eessi: EessiConfig,
    /// Defaults for loading Spack catalogs.
    pub spack: SpackConfig,
    /// The HTTP API.
    pub api: ApiConfig,
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
    /// Time allowed for one whole request including the body, in seconds.
    pub total_timeout_secs: u64,
    /// Further attempts after a failed request that may succeed when repeated.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; doubled at each retry.
    pub retry_backoff_ms: u64,
}

/// Where EESSI data comes from and how it is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EessiConfig {
    /// Base URL (or directory) holding `eessi_api_metadata_*.json`.
    pub api_url: String,
    /// Name given to EESSI catalogs.
    pub catalog_name: String,
    /// Whether Python/R/Perl… extensions are loaded as packages.
    pub include_extensions: bool,
}

/// Where Spack data comes from and how it is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpackConfig {
    /// URL (or path) of Spack's `repology.json`.
    pub data_url: String,
    /// Name given to Spack catalogs.
    pub catalog_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/softcat".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            fetch: FetchConfig::default(),
            eessi: EessiConfig {
                api_url: "https://www.eessi.io/api_data/data/".into(),
                catalog_name: "EESSI".into(),
                include_extensions: true,
            },
            spack: SpackConfig {
                data_url: "https://packages.spack.io/data/repology.json".into(),
                catalog_name: "Spack".into(),
            },
            api: ApiConfig {
                listen: "127.0.0.1:8000".into(),
                public_url: None,
                anonymous_reads: false,
                shutdown_grace_secs: 10,
            },
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

impl FetchConfig {
    /// The connect timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// The read timeout as a duration.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs)
    }
    /// The whole-request timeout as a duration.
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
        let file: PathBuf = match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "file {} does not exist",
                        path.display()
                    )));
                }
                path.to_path_buf()
            }
            None => std::env::var_os("SOFTCAT_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
        };
        Self::figment(&file).extract().map_err(|error| {
            // figment may collect several errors; the first one names a key.
            let first = error.into_iter().next();
            ConfigError(first.map_or_else(|| "invalid".to_owned(), |e| e.to_string()))
        })
    }

    /// The layered figment behind [`Config::load`], exposed for tests.
    pub fn figment(file: &Path) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(
                Env::prefixed("SOFTCAT_")
                    .ignore(&NOT_CONFIGURATION)
                    .split("__"),
            )
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL", "REDIS_URL"])
                    .map(|key| key.as_str().to_ascii_lowercase().into()),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            assert_eq!(config.spack.catalog_name, "Spack");
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
    fn unknown_key_is_rejected() {
        Jail::expect_with(|jail| {
            jail.create_file("softcat.toml", "[eessi]\napi_ulr = \"x\"\n")?;
            let error = Config::load(None).expect_err("typo must not pass silently");
            assert!(error.to_string().contains("api_ulr"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn harness_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            jail.set_env("SOFTCAT_DATA_DIR", "/srv/data");
            jail.set_env("SOFTCAT_BENCH_REQUESTS", "10");
            assert_eq!(
                Config::load(None).map_err(|e| e.to_string())?,
                Config::default()
            );
            Ok(())
        });
    }
}
