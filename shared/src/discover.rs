//! What the configured sources offer beside what is loaded: every EESSI
//! stack version its API file lists (2023.06 beside 2025.06), the Spack
//! snapshot the data URL serves. Staff read it before importing a catalog.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::loader::LoadRequestDraft;
use crate::settings::CatalogSettings;
use crate::sql::statement;

/// What one source offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOffer {
    /// Which loader.
    pub source: CatalogKind,
    /// The catalog name its loads use.
    pub catalog_name: String,
    /// Where it was read.
    pub url: String,
    /// The versions it offers, oldest first, each with the stored
    /// catalog's UUID when that version is loaded.
    pub versions: Vec<(String, Option<Uuid>)>,
    /// Why the source could not be read, when it could not.
    pub error: Option<String>,
}

/// Reads every configured source (with the runtime settings' URLs; a kind
/// with no location set is left out) and says which of its versions are
/// loaded.
pub async fn discover(
    db: &impl ConnectionTrait,
    config: &Config,
    fetcher: &Fetcher,
) -> Result<Vec<SourceOffer>, DbErr> {
    let settings = CatalogSettings::read(db, config).await?;
    let mut offers = Vec::new();
    for source in CatalogKind::all() {
        let defaults = settings.load_defaults(config, source);
        if defaults.url.is_empty() {
            // Nothing configured to read (a module tree, a conda channel):
            // nothing to offer.
            continue;
        }
        let request = LoadRequestDraft::default().resolve(source, defaults);
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                offers.push(SourceOffer {
                    source,
                    catalog_name: String::new(),
                    url: String::new(),
                    versions: Vec::new(),
                    error: Some(error.to_string()),
                });
                continue;
            }
        };
        let (versions, error) = match request.offered_versions(fetcher).await {
            Ok(versions) => (versions, None),
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        let loaded = loaded_versions(db, &request.catalog_name).await?;
        offers.push(SourceOffer {
            source,
            versions: versions
                .into_iter()
                .map(|version| {
                    let uuid = loaded
                        .iter()
                        .find(|row| row.version == version)
                        .map(|row| row.uuid);
                    (version, uuid)
                })
                .collect(),
            catalog_name: request.catalog_name,
            url: request.url,
            error,
        });
    }
    Ok(offers)
}

#[derive(FromQueryResult)]
struct Loaded {
    uuid: Uuid,
    version: String,
}

async fn loaded_versions(db: &impl ConnectionTrait, name: &str) -> Result<Vec<Loaded>, DbErr> {
    Loaded::find_by_statement(statement(
        db,
        "SELECT uuid, version FROM software_catalogs WHERE name = $1",
        [name.into()],
    ))
    .all(db)
    .await
}
