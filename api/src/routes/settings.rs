//! `/api/admin/settings/`: the runtime settings of catalog updates, read
//! and changed by staff under the names operators know.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::BadParameter;
use softcat_shared::settings::{CatalogSettings, SettingsError};

use super::Tag;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The settings of catalog updates.
#[derive(Debug, Object)]
pub struct Settings {
    /// Whether the daily refresh loads EESSI (default true).
    #[oai(rename = "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED")]
    pub eessi_update_enabled: bool,
    /// EESSI stack version to load; null for the newest.
    #[oai(rename = "SOFTWARE_CATALOG_EESSI_VERSION")]
    #[oai(nullable)]
    pub eessi_version: Option<String>,
    /// Base URL of the EESSI API documents.
    #[oai(rename = "SOFTWARE_CATALOG_EESSI_API_URL")]
    pub eessi_api_url: String,
    /// Whether EESSI extensions are loaded as packages (default true).
    #[oai(rename = "SOFTWARE_CATALOG_EESSI_INCLUDE_EXTENSIONS")]
    pub eessi_include_extensions: bool,
    /// Whether the daily refresh loads Spack (default true).
    #[oai(rename = "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED")]
    pub spack_update_enabled: bool,
    /// Spack catalog version; null to take it from the data.
    #[oai(rename = "SOFTWARE_CATALOG_SPACK_VERSION")]
    #[oai(nullable)]
    pub spack_version: Option<String>,
    /// URL of Spack's repology.json.
    #[oai(rename = "SOFTWARE_CATALOG_SPACK_DATA_URL")]
    pub spack_data_url: String,
    /// Whether refreshes bring existing catalogs in line (default true).
    #[oai(rename = "SOFTWARE_CATALOG_UPDATE_EXISTING_PACKAGES")]
    pub update_existing_packages: bool,
    /// Whether the scheduler enqueues the cleanup (default false).
    #[oai(rename = "SOFTWARE_CATALOG_CLEANUP_ENABLED")]
    pub cleanup_enabled: bool,
    /// Days after which superseded catalog versions and finished jobs are
    /// removed (default 90).
    #[oai(rename = "SOFTWARE_CATALOG_RETENTION_DAYS")]
    pub retention_days: u32,
}

impl From<CatalogSettings> for Settings {
    fn from(settings: CatalogSettings) -> Self {
        Self {
            eessi_update_enabled: settings.eessi_update_enabled,
            eessi_version: settings.eessi_version,
            eessi_api_url: settings.eessi_api_url,
            eessi_include_extensions: settings.eessi_include_extensions,
            spack_update_enabled: settings.spack_update_enabled,
            spack_version: settings.spack_version,
            spack_data_url: settings.spack_data_url,
            update_existing_packages: settings.update_existing_packages,
            cleanup_enabled: settings.cleanup_enabled,
            retention_days: settings.retention_days,
        }
    }
}

/// Longest text value of a setting (URLs, versions).
pub const MAX_SETTING_CHARS: usize = 2048;

/// Every text value short and on one line, before the settings read them:
/// a 400 naming the key otherwise.
fn check_values(changes: &serde_json::Map<String, serde_json::Value>) -> Result<(), ApiError> {
    for (key, value) in changes {
        let Some(text) = value.as_str() else {
            continue;
        };
        let reason = if text.chars().nth(MAX_SETTING_CHARS).is_some() {
            format!("at most {MAX_SETTING_CHARS} characters")
        } else if text.chars().any(char::is_control) {
            "may not contain control characters".to_owned()
        } else {
            continue;
        };
        return Err(BadParameter::new(key.as_str(), reason).into());
    }
    Ok(())
}

/// The settings endpoints (staff only).
pub struct SettingsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/api/admin/settings", tag = "Tag::Settings")]
impl SettingsApi {
    /// Show the settings (staff)
    #[oai(path = "/", method = "get", operation_id = "settings_retrieve")]
    async fn retrieve(&self, caller: Caller) -> ApiResult<Json<Settings>> {
        caller.require_staff()?;
        let settings = CatalogSettings::read(&self.state.db, &self.state.config).await?;
        Ok(Json(settings.into()))
    }

    /// Change settings (staff)
    ///
    /// Send only the keys to change. All are checked before any is stored;
    /// a bad value is a 400 naming its key. `null` resets a key to its
    /// configured default (for the versions: the newest). Text values are
    /// at most 2,048 characters, without control characters.
    #[oai(path = "/", method = "patch", operation_id = "settings_partial_update")]
    async fn update(
        &self,
        caller: Caller,
        /// A JSON object of setting names and new values.
        body: Json<serde_json::Value>,
    ) -> ApiResult<Json<Settings>> {
        caller.require_staff()?;
        let serde_json::Value::Object(changes) = body.0 else {
            return Err(ApiError::from(BadParameter::new(
                "body",
                "must be a JSON object of setting names and values",
            ))
            .into());
        };
        check_values(&changes)?;
        let settings = CatalogSettings::update(&self.state.db, &self.state.config, &changes)
            .await
            .map_err(|error| match error {
                SettingsError::Invalid(invalid) => {
                    ApiError::from(BadParameter::new(invalid.key, invalid.reason))
                }
                SettingsError::Db(error) => error.into(),
            })?;
        Ok(Json(settings.into()))
    }
}
