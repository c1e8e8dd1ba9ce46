//! `softcat_version_key(version)`: a byte string whose order is the
//! version order of `softcat_shared::version_order::compare_versions`
//! (`3.10` after `3.9`, `1.0rc1` before `1.0`, branches such as `develop`
//! after every release), so that listings can order by version in SQL. A
//! test compares the two orders over every version string of the real
//! catalogs.
//!
//! The key: a branch rank (`\x01` for releases, `\x02` + rank for branch
//! names), then each alphanumeric run — text as `\x01` text `\x00`, a number
//! as `\x03`, its digit count, its digits without leading zeros and a byte
//! ordering equal numbers by their leading zeros — then `\x02` and the
//! version itself, which breaks ties as the text does.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION softcat_version_key(version text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    rank integer := array_position(
        ARRAY['stable', 'nightly', 'trunk', 'head', 'master', 'main', 'develop'], lower(version));
    key bytea;
    run text;
    digits text;
    zeros integer;
BEGIN
    IF rank IS NULL THEN
        key := '\x01'::bytea;
    ELSE
        key := '\x02'::bytea || set_byte('\x00'::bytea, 0, rank);
    END IF;
    FOR run IN SELECT m[1] FROM regexp_matches(version, '[0-9]+|[A-Za-z]+', 'g') AS m LOOP
        IF run ~ '^[0-9]' THEN
            digits := ltrim(run, '0');
            zeros := length(run) - length(digits);
            key := key || '\x03'::bytea || set_byte('\x00'::bytea, 0, least(length(digits), 255))
                || convert_to(digits, 'UTF8')
                -- Equal numbers order as their text: `01` before `1`, but `0` before `00`.
                || set_byte('\x00'::bytea, 0, CASE WHEN digits = '' THEN least(zeros, 255)
                                                   ELSE 255 - least(zeros, 255) END);
        ELSE
            key := key || '\x01'::bytea || convert_to(run, 'UTF8') || '\x00'::bytea;
        END IF;
    END LOOP;
    RETURN key || '\x02'::bytea || convert_to(version, 'UTF8');
END
$$;
"#;

const DOWN: &str = "DROP FUNCTION softcat_version_key(text);";

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
