//! How the commands and roles reach the database: `softcat migrate` (and
//! standalone) bring its schema up to date; everything else connects and
//! refuses to go on with a schema that is not.

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;
use softcat_migrations::{Migrator, MigratorTrait};
use softcat_shared::config::Config;
use softcat_shared::db;

/// Creates the configured database if needed, applies pending migrations
/// and returns a connection to it.
pub async fn migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    db::ensure_database(&config.database_url).await?;
    let database = db::connect(&config.database_url)
        .await
        .context("connecting to the database")?;
    db::migrate(&database)
        .await
        .context("applying migrations")?;
    Ok(database)
}

/// A connection to the configured database, whose schema is current.
/// A missing database or one without the current schema is one line with
/// the fix: `run softcat migrate first`.
pub async fn open(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let database = match db::connect(&config.database_url).await {
        Ok(database) => database,
        Err(error @ db::DbError::Missing(_)) => return Err(error.into()),
        Err(error) => return Err(anyhow::Error::new(error).context("connecting to the database")),
    };
    let pending = Migrator::get_pending_migrations(&database)
        .await
        .context("reading the schema version")?;
    if !pending.is_empty() {
        let all = Migrator::migrations().len();
        if pending.len() == all {
            bail!("the database has no softcat schema: run softcat migrate first");
        }
        bail!(
            "the database schema is not up to date ({} of {all} migrations pending): \
             run softcat migrate first",
            pending.len()
        );
    }
    Ok(database)
}
