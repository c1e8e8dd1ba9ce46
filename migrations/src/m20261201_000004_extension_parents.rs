//! An extension's parent packages are those of its versions' parent
//! installations, which `software_versions.parent_version_id` links; the
//! single `parent_software_id` could not hold an extension that several
//! packages ship, and is dropped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE software_packages DROP COLUMN parent_software_id;
UPDATE software_packages SET metadata = metadata - 'parent_software'
WHERE is_extension AND metadata ? 'parent_software';
"#;

const DOWN: &str = r#"
ALTER TABLE software_packages
    ADD COLUMN parent_software_id BIGINT REFERENCES software_packages (id) ON DELETE SET NULL;
CREATE INDEX software_packages_parent_software_idx ON software_packages (parent_software_id);
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
