//! SLURM QoS of an offering (Waldur's `SlurmOfferingQoS`) and the QoS each
//! partition allows (`SlurmPartitionQoS`), at most one of them its default.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE offering_qos (
    id                BIGSERIAL PRIMARY KEY,
    uuid              UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    offering_id       BIGINT NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    priority          BIGINT,
    max_wall          BIGINT,
    max_jobs_per_user BIGINT,
    max_submit_jobs_per_user BIGINT,
    max_nodes         BIGINT,
    grp_tres          TEXT NOT NULL DEFAULT '',
    max_tres_per_job  TEXT NOT NULL DEFAULT '',
    max_tres_per_user TEXT NOT NULL DEFAULT '',
    created           TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT offering_qos_offering_name_key UNIQUE (offering_id, name)
);

CREATE TABLE partition_qos (
    partition_id BIGINT NOT NULL REFERENCES offering_partitions (id) ON DELETE CASCADE,
    qos_id       BIGINT NOT NULL REFERENCES offering_qos (id) ON DELETE CASCADE,
    is_default   BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (partition_id, qos_id)
);
CREATE UNIQUE INDEX partition_qos_one_default_idx ON partition_qos (partition_id) WHERE is_default;
CREATE INDEX partition_qos_qos_idx ON partition_qos (qos_id);
"#;

const DOWN: &str = r#"
DROP TABLE partition_qos;
DROP TABLE offering_qos;
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
