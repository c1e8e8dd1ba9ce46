//! A running load records the Postgres session of its transaction with its
//! lease: the backend's pid and the transaction's start, which together name
//! that one transaction. A worker that takes the job over after the lease
//! expired ends that session (`pg_terminate_backend`), so that a dead
//! worker's transaction does not hold the catalog's lock.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE jobs
    ADD COLUMN backend_pid INTEGER,
    ADD COLUMN backend_xact_start TIMESTAMPTZ;
"#;

const DOWN: &str = r#"
ALTER TABLE jobs DROP COLUMN backend_pid, DROP COLUMN backend_xact_start;
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
