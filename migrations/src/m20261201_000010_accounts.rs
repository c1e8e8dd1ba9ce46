//! What operators need to manage accounts: a short, non-secret prefix of
//! each new token key (so that `softcat tokens list` can show a token and
//! `softcat tokens revoke PREFIX` can name it; the key itself is only kept
//! as its SHA-256), and the account generation, a sequence every change to
//! users or tokens advances so that API processes drop the tokens they
//! verified earlier (see `softcat_shared::accounts`).
//!
//! Tokens issued before this migration have no prefix: they are listed as
//! such and revoked with the whole key or `--all USER`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE api_tokens ADD COLUMN key_prefix TEXT;
CREATE INDEX api_tokens_key_prefix_idx ON api_tokens (key_prefix text_pattern_ops);

-- Moves after every committed change to users or tokens; API processes
-- read it with the catalog data generation and forget verified tokens
-- when it moves.
CREATE SEQUENCE account_generation;
SELECT setval('account_generation', 1);
"#;

const DOWN: &str = r#"
DROP SEQUENCE account_generation;
DROP INDEX api_tokens_key_prefix_idx;
ALTER TABLE api_tokens DROP COLUMN key_prefix;
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
