//! SLURM partitions of offerings (Waldur's `OfferingPartition`) and
//! catalog links that name a partition. One catalog may be linked to several partitions of one
//! offering (a zen4 and a Grace partition both on EESSI), and once to the
//! offering as a whole; a partition with catalog links is not removed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE offering_partitions (
    id                  BIGSERIAL PRIMARY KEY,
    uuid                UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    offering_id         BIGINT NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    partition_name      TEXT NOT NULL,
    cpu_arch            TEXT NOT NULL DEFAULT '',
    gpu_arch            TEXT NOT NULL DEFAULT '',
    priority_tier       BIGINT,
    cpu_bind            BIGINT,
    def_cpu_per_gpu     BIGINT,
    max_cpus_per_node   BIGINT,
    max_cpus_per_socket BIGINT,
    def_mem_per_cpu     BIGINT,
    def_mem_per_gpu     BIGINT,
    def_mem_per_node    BIGINT,
    max_mem_per_cpu     BIGINT,
    max_mem_per_node    BIGINT,
    default_time        BIGINT,
    max_time            BIGINT,
    grace_time          BIGINT,
    max_nodes           BIGINT,
    min_nodes           BIGINT,
    exclusive_topo      BOOLEAN NOT NULL DEFAULT false,
    exclusive_user      BOOLEAN NOT NULL DEFAULT false,
    req_resv            BOOLEAN NOT NULL DEFAULT false,
    qos                 TEXT NOT NULL DEFAULT '',
    created             TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT offering_partitions_offering_name_key UNIQUE (offering_id, partition_name)
);

ALTER TABLE offering_software_catalogs
    ADD COLUMN partition_id BIGINT REFERENCES offering_partitions (id),
    DROP CONSTRAINT offering_software_catalogs_offering_catalog_key,
    ADD CONSTRAINT offering_software_catalogs_offering_catalog_partition_key
        UNIQUE NULLS NOT DISTINCT (offering_id, catalog_id, partition_id);
CREATE INDEX offering_software_catalogs_partition_idx ON offering_software_catalogs (partition_id);
"#;

const DOWN: &str = r#"
DELETE FROM offering_software_catalogs WHERE partition_id IS NOT NULL;
ALTER TABLE offering_software_catalogs
    DROP CONSTRAINT offering_software_catalogs_offering_catalog_partition_key,
    DROP COLUMN partition_id,
    ADD CONSTRAINT offering_software_catalogs_offering_catalog_key UNIQUE (offering_id, catalog_id);
DROP TABLE offering_partitions;
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
