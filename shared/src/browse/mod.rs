//! Reading and editing catalog data for the API: listings with filters,
//! details, staff edits of catalogs, and offering ↔ catalog links. Plain SQL
//! over the schema, so every query can be replayed in `psql` as written.

pub mod catalogs;
pub mod generation;
pub mod offerings;
pub mod packages;
mod page;
pub mod partitions;
pub mod qos;
pub mod target_scope;
pub mod targets;
pub mod versions;

pub use page::{BadParameter, DEFAULT_PAGE_SIZE, Listing, MAX_PAGE_SIZE, Page, order_by};
pub use target_scope::{ResolvedScope, TargetScope};

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::sql::{Conditions, statement};

/// Why a browse or edit request cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    /// A query parameter or body field is unusable; names the field.
    #[error(transparent)]
    Invalid(#[from] BadParameter),
    /// The object addressed does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with what is stored; says what to do first.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<target_scope::ResolveError> for BrowseError {
    fn from(error: target_scope::ResolveError) -> Self {
        match error {
            target_scope::ResolveError::Invalid(bad) => Self::Invalid(bad),
            target_scope::ResolveError::Db(db) => Self::Db(db),
        }
    }
}

/// Sets the given columns (and `modified`) of the row `uuid` of `table`
/// that belongs to offering `offering_id`: the one write of the objects
/// reached through their offering (partitions, QoS). Column names come from
/// the code, never from a caller.
pub(crate) async fn update_of_offering(
    db: &impl ConnectionTrait,
    table: &str,
    offering_id: i64,
    uuid: uuid::Uuid,
    columns: Vec<(&str, sea_orm::Value)>,
) -> Result<(), DbErr> {
    let mut conditions = Conditions::new();
    let mut sets = vec!["modified = now()".to_owned()];
    for (column, value) in columns {
        let p = conditions.bind(value);
        sets.push(format!("{column} = {p}"));
    }
    let offering = conditions.bind(offering_id);
    let row = conditions.bind(uuid);
    db.execute_raw(conditions.statement(
        db,
        format!(
            "UPDATE {table} SET {} WHERE offering_id = {offering} AND uuid = {row}",
            sets.join(", ")
        ),
    ))
    .await?;
    Ok(())
}

/// The count and one page of a listing: `from` is the `FROM … JOIN …` part
/// before the conditions, `order` the ORDER BY. The count comes first: a
/// page past the last ([`Page::is_past_end`]) has no rows and its OFFSET
/// query is not run, whatever the page number.
pub(crate) async fn list<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    columns: &str,
    from: &str,
    conditions: &Conditions,
    order: &str,
    page: Page,
) -> Result<Listing<T>, DbErr> {
    let filter = conditions.where_clause();
    let count = db
        .query_one_raw(conditions.statement(db, format!("SELECT count(*) AS count {from}{filter}")))
        .await?
        .map(|row| row.try_get::<i64>("", "count"))
        .transpose()?
        .unwrap_or(0);
    let count = u64::try_from(count).unwrap_or(0);
    if page.is_past_end(count) {
        return Ok(Listing {
            count,
            rows: Vec::new(),
        });
    }
    let rows = T::find_by_statement(conditions.statement(
        db,
        format!(
            "SELECT {columns} {from}{filter}{order}{}",
            page.limit_offset()
        ),
    ))
    .all(db)
    .await?;
    Ok(Listing { count, rows })
}
