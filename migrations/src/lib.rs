//! softcat's schema history. `softcat migrate` applies it; every change to
//! the schema is a new migration module registered in [`Migrator`].

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_catalog_schema;
mod m20261125_000002_api;
mod m20261129_000003_jobs;
mod m20261201_000004_extension_parents;
mod m20261201_000005_catalog_types;
mod m20261201_000006_version_order;
mod m20261201_000007_partitions;
mod m20261201_000008_qos;
mod m20261201_000010_accounts;
mod m20261201_000011_job_backend;
mod m20261201_000012_catalog_uploads;

/// Applies softcat's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_catalog_schema::Migration),
            Box::new(m20261125_000002_api::Migration),
            Box::new(m20261129_000003_jobs::Migration),
            Box::new(m20261201_000004_extension_parents::Migration),
            Box::new(m20261201_000005_catalog_types::Migration),
            Box::new(m20261201_000006_version_order::Migration),
            Box::new(m20261201_000007_partitions::Migration),
            Box::new(m20261201_000008_qos::Migration),
            Box::new(m20261201_000010_accounts::Migration),
            Box::new(m20261201_000011_job_backend::Migration),
            Box::new(m20261201_000012_catalog_uploads::Migration),
        ]
    }
}
