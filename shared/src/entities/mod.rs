//! sea-orm entities for the catalog schema owned by `softcat-migrations`.

pub mod offering;
pub mod offering_software_catalog;
pub mod software_catalog;
pub mod software_package;
pub mod software_target;
pub mod software_version;
