//! Catalogs: the listing, a catalog's CPU targets, and staff edits.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, SqlErr};
use uuid::Uuid;

use super::{BadParameter, BrowseError, Listing, Page, list};
use crate::catalog::{CatalogKind, CpuTarget};
use crate::sql::{Conditions, contains_pattern, statement};

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
    /// Source kind (`eessi`, `spack`).
    pub catalog_type: String,
    /// Where the data was loaded from.
    pub source_url: String,
    /// Free text.
    pub description: String,
    /// Number of packages, extensions included.
    pub package_count: i64,
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
    /// Exact version.
    pub version: Option<String>,
    /// Exact catalog type.
    pub catalog_type: Option<String>,
}

const COLUMNS: &str = "c.id, c.uuid, c.name, c.version, c.catalog_type, c.source_url, \
    c.description, c.created, c.modified, \
    (SELECT count(*) FROM software_packages p WHERE p.catalog_id = c.id) AS package_count";
const FROM: &str = "FROM software_catalogs c";

/// One page of catalogs, by name then version.
pub async fn list_catalogs(
    db: &impl ConnectionTrait,
    filter: &CatalogFilter,
    page: Page,
) -> Result<Listing<CatalogRow>, DbErr> {
    let mut conditions = Conditions::new();
    if let Some(name) = &filter.name {
        let p = conditions.bind(contains_pattern(name));
        conditions.push(format!("c.name ILIKE {p}"));
    }
    conditions.equals("c.version", filter.version.clone());
    conditions.equals("c.catalog_type", filter.catalog_type.clone());
    let order = " ORDER BY c.name, c.version, c.id";
    list(db, COLUMNS, FROM, &conditions, order, page).await
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
    /// Source kind.
    pub catalog_type: Option<String>,
    /// Where the data comes from.
    pub source_url: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

impl CatalogFields {
    fn validate(&self) -> Result<(), BadParameter> {
        for (field, value) in [
            ("name", &self.name),
            ("version", &self.version),
            ("catalog_type", &self.catalog_type),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(BadParameter::new(field, "may not be blank"));
            }
        }
        if let Some(kind) = &self.catalog_type
            && ![CatalogKind::Eessi, CatalogKind::Spack]
                .iter()
                .any(|known| known.as_str() == kind)
        {
            return Err(BadParameter::new("catalog_type", "must be eessi or spack"));
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
        Ok(())
    }
}

/// Creates a catalog; name, version and type are required.
pub async fn create_catalog(
    db: &impl ConnectionTrait,
    fields: &CatalogFields,
) -> Result<CatalogRow, BrowseError> {
    fields.validate()?;
    let required = |field: &'static str, value: &Option<String>| {
        value
            .clone()
            .ok_or_else(|| BadParameter::new(field, "this field is required"))
    };
    let name = required("name", &fields.name)?;
    let version = required("version", &fields.version)?;
    let kind = required("catalog_type", &fields.catalog_type)?;
    let result = db
        .query_one_raw(statement(
            db,
            "INSERT INTO software_catalogs (name, version, catalog_type, source_url, description) \
             VALUES ($1, $2, $3, $4, $5) RETURNING uuid",
            [
                name.clone().into(),
                version.clone().into(),
                kind.into(),
                fields.source_url.clone().unwrap_or_default().into(),
                fields.description.clone().unwrap_or_default().into(),
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
    fields.validate()?;
    let current = get_catalog(db, uuid).await?;
    let name = fields.name.clone().unwrap_or(current.name);
    let version = fields.version.clone().unwrap_or(current.version);
    db.execute_raw(statement(
        db,
        "UPDATE software_catalogs SET name = $2, version = $3, \
           catalog_type = COALESCE($4, catalog_type), source_url = COALESCE($5, source_url), \
           description = COALESCE($6, description), source_fingerprint = NULL, modified = now() \
         WHERE uuid = $1",
        [
            uuid.into(),
            name.clone().into(),
            version.clone().into(),
            fields.catalog_type.clone().into(),
            fields.source_url.clone().into(),
            fields.description.clone().into(),
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
