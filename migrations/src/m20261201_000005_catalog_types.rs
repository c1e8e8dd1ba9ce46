//! Catalog types in the marketplace's vocabulary (`binary_runtime`,
//! `source_package`, `package_manager`, `environment_module`), with the
//! loader that fills a catalog (`eessi`, `spack`) in a column of its own,
//! and the switch that keeps a catalog out of the daily refresh.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE software_catalogs
    ADD COLUMN source TEXT,
    ADD COLUMN auto_update_enabled BOOLEAN NOT NULL DEFAULT true;
UPDATE software_catalogs SET source = catalog_type WHERE catalog_type IN ('eessi', 'spack');
UPDATE software_catalogs SET catalog_type = CASE catalog_type
    WHEN 'eessi' THEN 'binary_runtime'
    WHEN 'spack' THEN 'source_package'
    ELSE catalog_type END;
ALTER TABLE software_catalogs ADD CONSTRAINT software_catalogs_catalog_type_check
    CHECK (catalog_type IN ('binary_runtime', 'source_package', 'package_manager', 'environment_module'));
CREATE INDEX jobs_load_catalog_idx ON jobs (catalog, started DESC) WHERE kind = 'load';
"#;

const DOWN: &str = r#"
DROP INDEX jobs_load_catalog_idx;
ALTER TABLE software_catalogs DROP CONSTRAINT software_catalogs_catalog_type_check;
UPDATE software_catalogs SET catalog_type = coalesce(source, catalog_type);
ALTER TABLE software_catalogs DROP COLUMN source, DROP COLUMN auto_update_enabled;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
