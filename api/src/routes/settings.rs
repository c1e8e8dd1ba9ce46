//! `/api/admin/settings/`: the runtime settings of catalog updates, read
//! and changed by staff under the names operators know.

use poem_openapi::OpenApi;
use poem_openapi::payload::Json;
use softcat_shared::browse::BadParameter;
use softcat_shared::settings::{CatalogSettings, SettingsError};

use super::Tag;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::registry::SettingsObject;
use crate::state::AppState;

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
    async fn retrieve(&self, caller: Caller) -> ApiResult<Json<SettingsObject>> {
        caller.require_staff()?;
        let settings = CatalogSettings::read(&self.state.db, &self.state.config).await?;
        Ok(Json(SettingsObject(settings.to_map())))
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
    ) -> ApiResult<Json<SettingsObject>> {
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
        Ok(Json(SettingsObject(settings.to_map())))
    }
}
