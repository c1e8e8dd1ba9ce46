//! Custom catalog documents uploaded over the API, kept until the load job
//! that reads them has had its chance (the cleanup removes them after the
//! retention period), so that a worker anywhere can read what the API
//! received.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE catalog_uploads (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    content BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX catalog_uploads_created ON catalog_uploads (created);
"#;

const DOWN: &str = r#"
DROP TABLE catalog_uploads;
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
