//! What the API needs: users, their API tokens and who manages which
//! offering; trigram indexes for the case-insensitive "contains" filters; and
//! each package's CPU targets summarised in arrays (kept by the loader), so
//! that CPU filters are one index look-up instead of a join over targets;
//! and the data generation readers cache by.
//!
//! Tokens are stored as the SHA-256 of the key: keys are long random strings,
//! so a fast hash is enough and a leaked table reveals no usable key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE users (
    id       BIGSERIAL PRIMARY KEY,
    uuid     UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    username TEXT NOT NULL UNIQUE,
    is_staff BOOLEAN NOT NULL DEFAULT false,
    created  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id       BIGSERIAL PRIMARY KEY,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    created  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE offering_managers (
    offering_id BIGINT NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (offering_id, user_id)
);
CREATE INDEX offering_managers_user_idx ON offering_managers (user_id);

-- Moves after every committed change to catalog data (see
-- softcat_shared::browse::generation); readers cache by it.
CREATE SEQUENCE catalog_data_generation;
-- So that the first advance moves the value readers saw.
SELECT setval('catalog_data_generation', 1);

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX software_packages_name_trgm_idx ON software_packages USING gin (name gin_trgm_ops);
CREATE INDEX software_packages_description_trgm_idx ON software_packages USING gin (description gin_trgm_ops);
CREATE INDEX software_catalogs_name_trgm_idx ON software_catalogs USING gin (name gin_trgm_ops);
CREATE INDEX software_versions_version_trgm_idx ON software_versions USING gin (version gin_trgm_ops);

-- No filter reads these columns: leave them out of ANALYZE, which the loader
-- runs after large loads.
ALTER TABLE software_packages
    ALTER COLUMN uuid SET STATISTICS 0,
    ALTER COLUMN homepage SET STATISTICS 0,
    ALTER COLUMN categories SET STATISTICS 0,
    ALTER COLUMN licenses SET STATISTICS 0,
    ALTER COLUMN maintainers SET STATISTICS 0,
    ALTER COLUMN metadata SET STATISTICS 0,
    ALTER COLUMN fingerprint SET STATISTICS 0,
    ALTER COLUMN tree_fingerprint SET STATISTICS 0;
ALTER TABLE software_versions
    ALTER COLUMN uuid SET STATISTICS 0,
    ALTER COLUMN required_modules SET STATISTICS 0,
    ALTER COLUMN metadata SET STATISTICS 0,
    ALTER COLUMN fingerprint SET STATISTICS 0,
    ALTER COLUMN tree_fingerprint SET STATISTICS 0;
ALTER TABLE software_targets
    ALTER COLUMN uuid SET STATISTICS 0,
    ALTER COLUMN path SET STATISTICS 0,
    ALTER COLUMN metadata SET STATISTICS 0,
    ALTER COLUMN fingerprint SET STATISTICS 0;

ALTER TABLE software_packages
    ADD COLUMN cpu_families           TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN cpu_microarchitectures TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN cpu_targets            TEXT[] NOT NULL DEFAULT '{}';
CREATE INDEX software_packages_cpu_families_idx ON software_packages USING gin (cpu_families);
CREATE INDEX software_packages_cpu_microarchitectures_idx ON software_packages USING gin (cpu_microarchitectures);
CREATE INDEX software_packages_cpu_targets_idx ON software_packages USING gin (cpu_targets);

-- Summaries for packages loaded before this migration.
UPDATE software_packages AS p
SET cpu_families = s.families, cpu_microarchitectures = s.micros, cpu_targets = s.targets
FROM (
    SELECT v.package_id,
           array_agg(DISTINCT t.cpu_family ORDER BY t.cpu_family)
             FILTER (WHERE t.cpu_family IS NOT NULL) AS families,
           array_agg(DISTINCT t.cpu_microarchitecture ORDER BY t.cpu_microarchitecture)
             FILTER (WHERE t.cpu_microarchitecture IS NOT NULL) AS micros,
           array_agg(DISTINCT t.cpu_family || '/' || t.cpu_microarchitecture
                     ORDER BY t.cpu_family || '/' || t.cpu_microarchitecture)
             FILTER (WHERE t.cpu_family IS NOT NULL AND t.cpu_microarchitecture IS NOT NULL)
             AS targets
    FROM software_versions v JOIN software_targets t ON t.version_id = v.id
    GROUP BY v.package_id
) AS s
WHERE p.id = s.package_id AND s.families IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP SEQUENCE catalog_data_generation;
ALTER TABLE software_packages
    DROP COLUMN cpu_families,
    DROP COLUMN cpu_microarchitectures,
    DROP COLUMN cpu_targets;
DROP INDEX software_versions_version_trgm_idx;
DROP INDEX software_catalogs_name_trgm_idx;
DROP INDEX software_packages_description_trgm_idx;
DROP INDEX software_packages_name_trgm_idx;
DROP TABLE offering_managers;
DROP TABLE api_tokens;
DROP TABLE users;
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
