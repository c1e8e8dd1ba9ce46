//! What the job system keeps in Postgres: one record per job (the history
//! users query; Redis only carries the work), the runtime settings staff
//! change through the API, and the scheduler's claimed ticks, which make
//! "exactly one job per tick" hold however many scheduler replicas run.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE jobs (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    kind         TEXT NOT NULL CHECK (kind IN ('load', 'refresh', 'cleanup', 'probe')),
    parameters   JSONB NOT NULL DEFAULT '{}',
    -- The catalog a load job brings in line ("EESSI", "Spack"), for filters.
    catalog      TEXT,
    -- Jobs with the same key do the same work: only one of them may be queued.
    dedupe_key   TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'unchanged', 'failed', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    progress     JSONB,
    result       JSONB,
    error        TEXT,
    worker       TEXT,
    requested_by TEXT NOT NULL,
    parent_id    UUID REFERENCES jobs (id) ON DELETE SET NULL,
    run_after    TIMESTAMPTZ,
    created      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started      TIMESTAMPTZ,
    finished     TIMESTAMPTZ,
    modified     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX jobs_one_queued_idx ON jobs (dedupe_key) WHERE state = 'queued';
CREATE INDEX jobs_created_idx ON jobs (created DESC, id DESC);
CREATE INDEX jobs_state_idx ON jobs (state);
CREATE INDEX jobs_catalog_idx ON jobs (catalog);
CREATE INDEX jobs_parent_idx ON jobs (parent_id);
CREATE INDEX jobs_finished_idx ON jobs (finished) WHERE finished IS NOT NULL;

CREATE TABLE settings (
    key      TEXT PRIMARY KEY,
    value    JSONB NOT NULL,
    modified TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE scheduler_ticks (
    schedule   TEXT NOT NULL,
    tick       TIMESTAMPTZ NOT NULL,
    claimed_by TEXT NOT NULL,
    created    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, tick)
);
"#;

const DOWN: &str = r#"
DROP TABLE scheduler_ticks;
DROP TABLE settings;
DROP TABLE jobs;
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
