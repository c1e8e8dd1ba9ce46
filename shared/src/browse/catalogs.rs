//! Catalogs: the listing, a catalog's CPU targets, and staff edits.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, SqlErr};
use uuid::Uuid;

use super::{BadParameter, BrowseError, Listing, Page, list, order_by};
use crate::catalog::{CatalogType, CpuTarget};
use crate::sql::{Conditions, statement};

/// A catalog as the API shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CatalogRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// Catalog name (`EESSI`).
    pub name: String,
    /// Catalog version (`2025.06`).
    pub version: String,
    /// What the catalog holds (`binary_runtime`, `source_package` …).
    pub catalog_type: String,
    /// The loader that fills it (`eessi`, `spack`); none for a catalog
    /// staff created by hand.
    pub source: Option<String>,
    /// Where the data was loaded from.
    pub source_url: String,
    /// Free text.
    pub description: String,
    /// Source-level facts (timestamps, architectures …).
    pub metadata: serde_json::Value,
    /// Whether the daily refresh updates it.
    pub auto_update_enabled: bool,
    /// Number of packages, extensions included.
    pub package_count: i64,
    /// Number of versions.
    pub version_count: i64,
    /// Number of targets.
    pub target_count: i64,
    /// When a load of this catalog last started.
    pub last_update_attempt: Option<DateTime<FixedOffset>>,
    /// When a load of this catalog last succeeded.
    pub last_successful_update: Option<DateTime<FixedOffset>>,
    /// The error of the last load, when it failed after the last success.
    pub update_errors: Option<String>,
    /// When the catalog was created.
    pub created: DateTime<FixedOffset>,
    /// When the catalog row last changed.
    pub modified: DateTime<FixedOffset>,
}

/// Filters of the catalog listing.
#[derive(Debug, Clone, Default)]
pub struct CatalogFilter {
    /// Case-insensitive part of the name.
    pub name: Option<String>,
    /// Exact name.
    pub name_exact: Option<String>,
    /// Exact version.
    pub version: Option<String>,
    /// Case-insensitive part of the description.
    pub description: Option<String>,
    /// Exact catalog type.
    pub catalog_type: Option<CatalogType>,
    /// Exact loader.
    pub source: Option<String>,
    /// Catalogs the daily refresh updates, or those it leaves alone.
    pub auto_update_enabled: Option<bool>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

/// The counts come from what the last load left on the catalog (only loads
/// write packages), so a listing reads them instead of counting rows. The
/// update status comes from the load jobs of the catalog: a job whose
/// version is not known yet (it failed before reading the source) counts
/// for the newest version of its catalog name.
const COLUMNS: &str = "c.id, c.uuid, c.name, c.version, c.catalog_type, c.source, \
    c.source_url, c.description, c.metadata, c.auto_update_enabled, c.created, c.modified, \
    coalesce((c.load_summary->>'packages')::bigint, 0) AS package_count, \
    coalesce((c.load_summary->>'versions')::bigint, 0) AS version_count, \
    coalesce((c.load_summary->>'targets')::bigint, 0) AS target_count, \
    status.last_update_attempt, status.last_successful_update, status.update_errors";
const FROM: &str = "FROM software_catalogs c LEFT JOIN LATERAL ( \
      SELECT max(j.started) AS last_update_attempt, \
        max(j.finished) FILTER (WHERE j.state IN ('succeeded', 'unchanged')) \
          AS last_successful_update, \
        (array_agg(j.error ORDER BY j.finished DESC) \
          FILTER (WHERE j.state IN ('succeeded', 'unchanged', 'failed')))[1] AS update_errors \
      FROM jobs j \
      WHERE j.kind = 'load' AND j.catalog = c.name AND NOT coalesce((j.parameters->>'dry_run')::boolean, false) \
        AND coalesce(j.result->'catalog'->>'version', j.parameters->>'catalog_version', \
              (SELECT newest.version FROM software_catalogs newest WHERE newest.name = c.name \
               ORDER BY softcat_version_key(newest.version) DESC LIMIT 1)) = c.version \
    ) status ON true";
const ORDERINGS: [(&str, &str); 5] = [
    ("name", "c.name"),
    ("version", "softcat_version_key(c.version)"),
    ("catalog_type", "c.catalog_type"),
    ("created", "c.created"),
    ("modified", "c.modified"),
];

/// One page of catalogs, by name then version.
pub async fn list_catalogs(
    db: &impl ConnectionTrait,
    filter: &CatalogFilter,
    page: Page,
) -> Result<Listing<CatalogRow>, BrowseError> {
    let order = order_by(
        &filter.ordering,
        &ORDERINGS,
        "c.name ASC, c.version ASC",
        "c.id ASC",
    )?;
    let mut conditions = Conditions::new();
    conditions.contains("c.name", filter.name.as_deref());
    conditions.equals("c.name", filter.name_exact.clone());
    conditions.equals("c.version", filter.version.clone());
    conditions.contains("c.description", filter.description.as_deref());
    conditions.equals("c.catalog_type", filter.catalog_type.map(|t| t.as_str()));
    conditions.equals("c.source", filter.source.clone());
    conditions.equals("c.auto_update_enabled", filter.auto_update_enabled);
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// The UUID of the catalog `name` `version`, if it is stored.
pub async fn find_catalog(
    db: &impl ConnectionTrait,
    name: &str,
    version: &str,
) -> Result<Option<Uuid>, DbErr> {
    db.query_one_raw(statement(
        db,
        "SELECT uuid FROM software_catalogs WHERE name = $1 AND version = $2",
        [name.into(), version.into()],
    ))
    .await?
    .map(|row| row.try_get("", "uuid"))
    .transpose()
}

/// A catalog by UUID.
pub async fn get_catalog(db: &impl ConnectionTrait, uuid: Uuid) -> Result<CatalogRow, BrowseError> {
    CatalogRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE c.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("catalog"))
}

/// Every distinct CPU target among a catalog's targets, by family then
/// micro-architecture: what an offering manager chooses from. Read from the
/// packages' summaries, which the loader keeps.
pub async fn cpu_targets(
    db: &impl ConnectionTrait,
    catalog_id: i64,
) -> Result<Vec<CpuTarget>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        target: String,
    }
    let rows = Row::find_by_statement(statement(
        db,
        "SELECT DISTINCT unnest(cpu_targets) AS target FROM software_packages \
         WHERE catalog_id = $1 ORDER BY 1",
        [catalog_id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| CpuTarget::parse(&row.target).ok())
        .collect())
}

/// The fields staff set on a catalog; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CatalogFields {
    /// Catalog name.
    pub name: Option<String>,
    /// Catalog version.
    pub version: Option<String>,
    /// What the catalog holds, as the caller wrote it (checked here).
    pub catalog_type: Option<String>,
    /// Where the data comes from.
    pub source_url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Whether the daily refresh updates it.
    pub auto_update_enabled: Option<bool>,
}

impl CatalogFields {
    fn validate(&self) -> Result<Option<CatalogType>, BadParameter> {
        for (field, value) in [("name", &self.name), ("version", &self.version)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(BadParameter::new(field, "may not be blank"));
            }
        }
        for (field, value) in [
            ("name", &self.name),
            ("version", &self.version),
            ("source_url", &self.source_url),
            ("description", &self.description),
        ] {
            if value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(BadParameter::new(field, "may not contain NUL characters"));
            }
        }
        if let Some(location) = &self.source_url
            && let Some(scheme) = foreign_scheme(location)
        {
            return Err(BadParameter::new(
                "source_url",
                format!(
                    "{scheme}: is not a source location; give an http or https URL, \
                     a file: URL or a path"
                ),
            ));
        }
        self.catalog_type
            .as_deref()
            .map(|value| {
                CatalogType::parse(value).ok_or_else(|| {
                    let known: Vec<&str> = CatalogType::ALL.iter().map(|t| t.as_str()).collect();
                    BadParameter::new(
                        "catalog_type",
                        format!(
                            "{value:?} is not a catalog type; use one of {}",
                            known.join(", ")
                        ),
                    )
                })
            })
            .transpose()
    }
}

/// The scheme of a location that names one other than the places sources
/// are read from (`javascript:`, `data:` …), which a page showing the
/// location as a link must never be given; `None` for an http, https or
/// file URL, a path, or an empty location.
fn foreign_scheme(location: &str) -> Option<String> {
    let url = url::Url::parse(location.trim()).ok()?;
    (!matches!(url.scheme(), "http" | "https" | "file")).then(|| url.scheme().to_owned())
}

/// Creates a catalog; name, version and type are required.
pub async fn create_catalog(
    db: &impl ConnectionTrait,
    fields: &CatalogFields,
) -> Result<CatalogRow, BrowseError> {
    let catalog_type = fields.validate()?;
    let required = |field: &'static str, value: &Option<String>| {
        value
            .clone()
            .ok_or_else(|| BadParameter::new(field, "this field is required"))
    };
    let name = required("name", &fields.name)?;
    let version = required("version", &fields.version)?;
    let kind =
        catalog_type.ok_or_else(|| BadParameter::new("catalog_type", "this field is required"))?;
    let result = db
        .query_one_raw(statement(
            db,
            "INSERT INTO software_catalogs \
               (name, version, catalog_type, source_url, description, auto_update_enabled) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING uuid",
            [
                name.clone().into(),
                version.clone().into(),
                kind.as_str().into(),
                fields.source_url.clone().unwrap_or_default().into(),
                fields.description.clone().unwrap_or_default().into(),
                fields.auto_update_enabled.unwrap_or(true).into(),
            ],
        ))
        .await;
    let row = result.map_err(|error| duplicate_name(error, &name, &version))?;
    let uuid: Uuid = row
        .ok_or(BrowseError::NotFound("catalog"))?
        .try_get("", "uuid")?;
    get_catalog(db, uuid).await
}

/// Changes the given fields of a catalog. The stored source fingerprint is
/// cleared, so the next load compares the data instead of ending early.
pub async fn update_catalog(
    db: &impl ConnectionTrait,
    uuid: Uuid,
    fields: &CatalogFields,
) -> Result<CatalogRow, BrowseError> {
    let catalog_type = fields.validate()?;
    let current = get_catalog(db, uuid).await?;
    let name = fields.name.clone().unwrap_or(current.name);
    let version = fields.version.clone().unwrap_or(current.version);
    db.execute_raw(statement(
        db,
        "UPDATE software_catalogs SET name = $2, version = $3, \
           catalog_type = COALESCE($4, catalog_type), source_url = COALESCE($5, source_url), \
           description = COALESCE($6, description), \
           auto_update_enabled = COALESCE($7, auto_update_enabled), \
           source_fingerprint = NULL, modified = now() \
         WHERE uuid = $1",
        [
            uuid.into(),
            name.clone().into(),
            version.clone().into(),
            catalog_type.map(CatalogType::as_str).into(),
            fields.source_url.clone().into(),
            fields.description.clone().into(),
            fields.auto_update_enabled.into(),
        ],
    ))
    .await
    .map_err(|error| duplicate_name(error, &name, &version))?;
    get_catalog(db, uuid).await
}

/// Deletes a catalog with its packages, versions, targets and links.
pub async fn delete_catalog(db: &impl ConnectionTrait, uuid: Uuid) -> Result<(), BrowseError> {
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM software_catalogs WHERE uuid = $1",
            [uuid.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BrowseError::NotFound("catalog"));
    }
    Ok(())
}

fn duplicate_name(error: DbErr, name: &str, version: &str) -> BrowseError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => BrowseError::Invalid(BadParameter::new(
            "name",
            format!("a catalog {name} {version} already exists"),
        )),
        _ => BrowseError::Db(error),
    }
}

#[cfg(test)]
mod tests {
    use super::foreign_scheme;

    #[test]
    fn a_source_location_is_a_web_or_file_url_or_a_path() {
        for fine in [
            "",
            "https://packages.spack.io/data/repology.json",
            "http://mirror.example.org/eessi/",
            "file:///srv/data/repology.json",
            "/srv/data/repology.json",
            "samples/eessi",
        ] {
            assert_eq!(foreign_scheme(fine), None, "{fine}");
        }
        for (foreign, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("  JavaScript:alert(1)", "javascript"),
            ("data:text/html,x", "data"),
            ("vbscript:x", "vbscript"),
        ] {
            assert_eq!(
                foreign_scheme(foreign).as_deref(),
                Some(scheme),
                "{foreign}"
            );
        }
    }
}
