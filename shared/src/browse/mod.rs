//! Reading and editing catalog data for the API: listings with filters,
//! details, staff edits of catalogs, and offering ↔ catalog links. Plain SQL
//! over the schema, so every query can be replayed in `psql` as written.

pub mod catalogs;
pub mod generation;
pub mod offerings;
pub mod packages;
mod page;
pub mod targets;
pub mod versions;

pub use page::{BadParameter, DEFAULT_PAGE_SIZE, Listing, MAX_PAGE_SIZE, Page, order_by};

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
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// The count and one page of a listing: `from` is the `FROM … JOIN …` part
/// before the conditions, `order` the ORDER BY.
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
    let rows = T::find_by_statement(conditions.statement(
        db,
        format!(
            "SELECT {columns} {from}{filter}{order}{}",
            page.limit_offset()
        ),
    ))
    .all(db)
    .await?;
    Ok(Listing {
        count: u64::try_from(count).unwrap_or(0),
        rows,
    })
}

/// The targets of package `p`, as a `FROM … WHERE` scope for [`link_enables`].
const PACKAGE_TARGETS: &str = "software_versions v \
    JOIN software_targets t ON t.version_id = v.id WHERE v.package_id = p.id";

/// The targets of version `v`, as a `FROM … WHERE` scope for [`link_enables`].
const VERSION_TARGETS: &str = "software_targets t WHERE t.version_id = v.id";

/// Whether an offering's catalog link `l` enables one of the targets that
/// `targets` selects (`None`: the target `t` already in scope). A link with
/// empty CPU lists enables everything; otherwise a target must match both.
fn link_enables(targets: Option<&str>) -> String {
    const UNRESTRICTED: &str = "(jsonb_array_length(l.enabled_cpu_family) = 0 \
        AND jsonb_array_length(l.enabled_cpu_microarchitectures) = 0)";
    const ENABLES_TARGET: &str = "(jsonb_array_length(l.enabled_cpu_family) = 0 \
           OR l.enabled_cpu_family @> to_jsonb(t.cpu_family)) \
        AND (jsonb_array_length(l.enabled_cpu_microarchitectures) = 0 \
           OR l.enabled_cpu_microarchitectures @> to_jsonb(t.cpu_microarchitecture))";
    match targets {
        Some(scope) => {
            format!("({UNRESTRICTED} OR EXISTS (SELECT 1 FROM {scope} AND {ENABLES_TARGET}))")
        }
        None => format!("({UNRESTRICTED} OR ({ENABLES_TARGET}))"),
    }
}

/// The condition "offering `offering` (a placeholder) provides the catalog of
/// package `p`, and its link enables one of `targets`".
fn offered_by(offering: &str, targets: Option<&str>) -> String {
    format!(
        "EXISTS (SELECT 1 FROM offering_software_catalogs l \
           JOIN offerings o ON o.id = l.offering_id \
           WHERE o.uuid = {offering} AND l.catalog_id = p.catalog_id AND {})",
        link_enables(targets)
    )
}
