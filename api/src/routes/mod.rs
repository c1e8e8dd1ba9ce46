//! One module per endpoint family, each an `OpenApi` impl.

pub mod catalogs;
pub mod health;
pub mod offerings;
pub mod packages;
pub mod targets;
pub mod versions;

use poem_openapi::Tags;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum Tag {
    /// Software catalogs (EESSI stack versions, Spack snapshots).
    Catalogs,
    /// Packages of the catalogs, extensions included.
    Packages,
    /// Versions of packages.
    Versions,
    /// Targets of versions: CPU architectures and build variants.
    Targets,
    /// Offerings and the catalogs they provide.
    Offerings,
    /// Liveness and readiness.
    Health,
}

/// `"{base}/api/{collection}/{uuid}/"`.
pub fn object_url(base: &str, collection: &str, uuid: uuid::Uuid) -> String {
    format!("{base}/api/{collection}/{uuid}/")
}
