//! One module per endpoint family, each an `OpenApi` impl.

pub mod catalogs;
pub mod health;
pub mod jobs;
pub mod offerings;
pub mod packages;
pub mod partitions;
pub mod settings;
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
    /// Catalog load, refresh and cleanup jobs (staff).
    Jobs,
    /// Runtime settings of catalog updates (staff).
    Settings,
}

/// `"{base}/api/{collection}/{uuid}/"`.
pub fn object_url(base: &str, collection: &str, uuid: uuid::Uuid) -> String {
    format!("{base}/api/{collection}/{uuid}/")
}

/// Example values shown for parameters in the OpenAPI document.
pub mod examples {
    /// A software name.
    pub fn package_name() -> Option<String> {
        Some("GROMACS".into())
    }
    /// A catalog name.
    pub fn catalog_name() -> Option<String> {
        Some("EESSI".into())
    }
    /// An EESSI stack version.
    pub fn catalog_version() -> Option<String> {
        Some("2025.06".into())
    }
    /// A catalog loader.
    pub fn source() -> Option<String> {
        Some("eessi".into())
    }
    /// A CPU family.
    pub fn cpu_family() -> Option<Vec<String>> {
        Some(vec!["x86_64".into()])
    }
    /// A micro-architecture.
    pub fn cpu_microarchitecture() -> Option<Vec<String>> {
        Some(vec!["amd/zen4".into()])
    }
    /// A version string.
    pub fn version() -> Option<String> {
        Some("2026.2".into())
    }
    /// A search term.
    pub fn query() -> Option<String> {
        Some("fftw".into())
    }
    /// A toolchain.
    pub fn toolchain_name() -> Option<String> {
        Some("foss".into())
    }
    /// A toolchain family.
    pub fn toolchain_family() -> Option<String> {
        Some("2023a_foss".into())
    }
    /// An ordering.
    pub fn ordering() -> Option<Vec<String>> {
        Some(vec!["-version_count".into(), "name".into()])
    }
    /// A job kind.
    pub fn job_kind() -> Option<String> {
        Some("load".into())
    }
    /// A job state.
    pub fn job_state() -> Option<String> {
        Some("failed".into())
    }
    /// A page number.
    pub fn page() -> Option<u64> {
        Some(2)
    }
    /// A page size.
    pub fn page_size() -> Option<u64> {
        Some(50)
    }
}
