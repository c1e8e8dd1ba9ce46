//! Connecting to Postgres, creating the database on first use, and applying
//! the schema.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};
use softcat_migrations::{Migrator, MigratorTrait};

/// Why the database could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not name a database (`postgres://host/dbname`).
    #[error("database URL {0:?} does not name a database")]
    NoDatabaseName(String),
    /// The server has no database of the URL's name.
    #[error("database {0:?} does not exist: run softcat migrate first")]
    Missing(String),
    /// The server refused or failed a statement.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Opens a connection pool. A database the server does not have is
/// [`DbError::Missing`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false);
    Database::connect(options).await.map_err(|error| {
        if is_missing_database(&error) {
            let name = split_database_url(url).map_or_else(|_| url.to_owned(), |(_, name)| name);
            DbError::Missing(name)
        } else {
            DbError::Db(error)
        }
    })
}

/// Whether Postgres answered `invalid_catalog_name` (3D000): the database
/// named in the URL does not exist.
fn is_missing_database(error: &DbErr) -> bool {
    let DbErr::Conn(sea_orm::RuntimeErr::SqlxError(error)) = error else {
        return false;
    };
    error
        .as_database_error()
        .and_then(|error| error.code())
        .is_some_and(|code| code == "3D000")
}

/// Creates the database named in `url` if the server does not have it yet,
/// by way of the server's `postgres` maintenance database.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let (server, name) = split_database_url(url)?;
    let maintenance = connect(&format!("{server}/postgres")).await?;
    let exists = maintenance
        .query_one_raw(Statement::from_sql_and_values(
            maintenance.get_database_backend(),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        maintenance
            .execute_unprepared(&format!("CREATE DATABASE \"{quoted}\""))
            .await?;
        tracing::info!(database = %name, "created database");
    }
    maintenance.close().await?;
    Ok(())
}

/// Drops the database named in `url`, disconnecting its sessions (tests and
/// benchmarks use throw-away databases).
pub async fn drop_database(url: &str) -> Result<(), DbError> {
    let (server, name) = split_database_url(url)?;
    let maintenance = connect(&format!("{server}/postgres")).await?;
    let quoted = name.replace('"', "\"\"");
    maintenance
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)"
        ))
        .await?;
    maintenance.close().await?;
    Ok(())
}

/// Applies every pending migration; running it again changes nothing.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbError> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Splits `postgres://user@host:port/name?opts` into the server part and
/// the database name.
fn split_database_url(url: &str) -> Result<(String, String), DbError> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = without_query
        .find("://")
        .map_or(0, |index| index + "://".len());
    match without_query[after_scheme..].rfind('/') {
        Some(slash) if slash + 1 < without_query.len() - after_scheme => {
            let split = after_scheme + slash;
            Ok((
                without_query[..split].to_owned(),
                without_query[split + 1..].to_owned(),
            ))
        }
        _ => Err(DbError::NoDatabaseName(url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_server_from_database_name() {
        let (server, name) =
            split_database_url("postgres://postgres@127.0.0.1:5432/softcat?sslmode=disable")
                .unwrap();
        assert_eq!(server, "postgres://postgres@127.0.0.1:5432");
        assert_eq!(name, "softcat");
        assert!(split_database_url("postgres://127.0.0.1:5432").is_err());
        assert!(split_database_url("postgres://127.0.0.1:5432/").is_err());
    }
}
