//! Catalogs → packages → versions → targets, offerings and their catalog links.
//!
//! Integer keys join, UUIDs face the API, natural keys are unique so that a
//! load can match source entries to rows exactly. `fingerprint` holds a hash of
//! a row's own fields and `tree_fingerprint` that of the row and everything
//! below it, so that an unchanged subtree is recognised without reading it.
//!
//! `software_catalogs.source_fingerprint` is the hash of the source documents
//! (and load options) the catalog was last brought in line with, and
//! `load_summary` that load's row counts and skipped entries: a reload of the
//! same documents ends there. Anything that changes a catalog's contents other
//! than a load must set `source_fingerprint` to NULL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE software_catalogs (
    id            BIGSERIAL PRIMARY KEY,
    uuid          UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    catalog_type  TEXT NOT NULL,
    source_url    TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    metadata      JSONB NOT NULL DEFAULT '{}'::jsonb,
    source_fingerprint BIGINT,
    load_summary  JSONB NOT NULL DEFAULT '{}'::jsonb,
    created       TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT software_catalogs_name_version_key UNIQUE (name, version)
);
CREATE INDEX software_catalogs_catalog_type_idx ON software_catalogs (catalog_type);
CREATE INDEX software_catalogs_source_idx ON software_catalogs (name, source_fingerprint);

CREATE TABLE software_packages (
    id                 BIGSERIAL PRIMARY KEY,
    uuid               UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    catalog_id         BIGINT NOT NULL REFERENCES software_catalogs (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    is_extension       BOOLEAN NOT NULL DEFAULT false,
    description        TEXT NOT NULL DEFAULT '',
    homepage           TEXT NOT NULL DEFAULT '',
    categories         JSONB NOT NULL DEFAULT '[]'::jsonb,
    licenses           JSONB NOT NULL DEFAULT '[]'::jsonb,
    maintainers        JSONB NOT NULL DEFAULT '[]'::jsonb,
    parent_software_id BIGINT REFERENCES software_packages (id) ON DELETE SET NULL,
    metadata           JSONB NOT NULL DEFAULT '{}'::jsonb,
    fingerprint        BIGINT NOT NULL DEFAULT 0,
    tree_fingerprint   BIGINT NOT NULL DEFAULT 0,
    created            TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT software_packages_catalog_name_kind_key UNIQUE (catalog_id, name, is_extension)
);
CREATE INDEX software_packages_name_idx ON software_packages (name);
CREATE INDEX software_packages_parent_software_idx ON software_packages (parent_software_id);

CREATE TABLE software_versions (
    id                BIGSERIAL PRIMARY KEY,
    uuid              UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    package_id        BIGINT NOT NULL REFERENCES software_packages (id) ON DELETE CASCADE,
    version           TEXT NOT NULL,
    modulename        TEXT NOT NULL DEFAULT '',
    release_date      DATE,
    toolchain_name    TEXT NOT NULL DEFAULT '',
    toolchain_version TEXT NOT NULL DEFAULT '',
    toolchain_families_compatibility JSONB NOT NULL DEFAULT '[]'::jsonb,
    required_modules  JSONB NOT NULL DEFAULT '[]'::jsonb,
    parent_version_id BIGINT REFERENCES software_versions (id) ON DELETE CASCADE,
    metadata          JSONB NOT NULL DEFAULT '{}'::jsonb,
    fingerprint       BIGINT NOT NULL DEFAULT 0,
    tree_fingerprint  BIGINT NOT NULL DEFAULT 0,
    created           TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT software_versions_package_version_module_key UNIQUE (package_id, version, modulename)
);
CREATE INDEX software_versions_version_idx ON software_versions (version);
CREATE INDEX software_versions_toolchain_name_idx ON software_versions (toolchain_name);
CREATE INDEX software_versions_parent_version_idx ON software_versions (parent_version_id);
CREATE INDEX software_versions_release_date_idx ON software_versions (release_date);

CREATE TABLE software_targets (
    id                    BIGSERIAL PRIMARY KEY,
    uuid                  UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    version_id            BIGINT NOT NULL REFERENCES software_versions (id) ON DELETE CASCADE,
    target_type           TEXT NOT NULL,
    target_name           TEXT NOT NULL,
    cpu_family            TEXT,
    cpu_microarchitecture TEXT,
    path                  TEXT NOT NULL DEFAULT '',
    metadata              JSONB NOT NULL DEFAULT '{}'::jsonb,
    fingerprint           BIGINT NOT NULL DEFAULT 0,
    created               TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT software_targets_version_type_name_key UNIQUE (version_id, target_type, target_name)
);
CREATE INDEX software_targets_cpu_idx ON software_targets (cpu_family, cpu_microarchitecture);
CREATE INDEX software_targets_cpu_microarchitecture_idx ON software_targets (cpu_microarchitecture);

CREATE TABLE offerings (
    id       BIGSERIAL PRIMARY KEY,
    uuid     UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    name     TEXT NOT NULL,
    type     TEXT NOT NULL DEFAULT '',
    created  TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX offerings_name_idx ON offerings (name);

CREATE TABLE offering_software_catalogs (
    id                             BIGSERIAL PRIMARY KEY,
    uuid                           UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    offering_id                    BIGINT NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    catalog_id                     BIGINT NOT NULL REFERENCES software_catalogs (id) ON DELETE CASCADE,
    enabled_cpu_family             JSONB NOT NULL DEFAULT '[]'::jsonb,
    enabled_cpu_microarchitectures JSONB NOT NULL DEFAULT '[]'::jsonb,
    created                        TIMESTAMPTZ NOT NULL DEFAULT now(),
    modified                       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT offering_software_catalogs_offering_catalog_key UNIQUE (offering_id, catalog_id)
);
CREATE INDEX offering_software_catalogs_catalog_idx ON offering_software_catalogs (catalog_id);
"#;

const DOWN: &str = r#"
DROP TABLE offering_software_catalogs;
DROP TABLE offerings;
DROP TABLE software_targets;
DROP TABLE software_versions;
DROP TABLE software_packages;
DROP TABLE software_catalogs;
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
