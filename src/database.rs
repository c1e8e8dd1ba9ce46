//! How the commands and roles reach the database: connect, and refuse to go
//! on with a schema that `softcat migrate` has not brought up to date.

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;
use softcat_migrations::{Migrator, MigratorTrait};
use softcat_shared::config::Config;
use softcat_shared::db;

/// A connection to the configured database, whose schema is current.
pub async fn open(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let database = db::connect(&config.database_url)
        .await
        .context("connecting to the database")?;
    let pending = Migrator::get_pending_migrations(&database)
        .await
        .context("reading the schema version")?;
    if !pending.is_empty() {
        bail!(
            "the database schema is not up to date ({} pending migrations): run `softcat migrate`",
            pending.len()
        );
    }
    Ok(database)
}
