//! Offerings and the catalogs they provide: which catalog, for which CPU
//! families and micro-architectures. Link rules live here: the catalog
//! exists, is linked once, and every enabled CPU is among its targets.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::partitions::PartitionRow;
use super::qos::QosRow;
use super::target_scope::{Level, link_provides};
use super::{BadParameter, BrowseError, Listing, Page, list, order_by};
use crate::catalog::{CpuTarget, ShortName, resolve_microarchitecture};
use crate::cpu::can_run;
use crate::sql::{Conditions, statement};

/// An offering.
#[derive(Debug, Clone, FromQueryResult)]
pub struct OfferingRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// Offering name.
    pub name: String,
    /// Offering type (free text from the marketplace).
    pub offering_type: String,
    /// When it was created.
    pub created: DateTime<FixedOffset>,
    /// When it last changed.
    pub modified: DateTime<FixedOffset>,
}

/// One catalog an offering provides, to all its partitions or to one.
#[derive(Debug, Clone, FromQueryResult)]
pub struct LinkRow {
    /// The link's UUID (`offering_catalog_uuid`).
    pub uuid: Uuid,
    /// The offering's join key.
    pub offering_id: i64,
    /// The offering's UUID.
    pub offering_uuid: Uuid,
    /// The offering's name.
    pub offering_name: String,
    /// The partition the link is for; none for the whole offering.
    pub partition_uuid: Option<Uuid>,
    /// That partition's name.
    pub partition_name: Option<String>,
    /// The catalog's UUID.
    pub catalog_uuid: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// Enabled CPU families; empty means all.
    pub enabled_cpu_family: serde_json::Value,
    /// Enabled micro-architectures; empty means all.
    pub enabled_cpu_microarchitectures: serde_json::Value,
    /// Packages of the catalog with a target the link enables.
    pub package_count: i64,
}

/// An offering with its catalogs and managers.
#[derive(Debug, Clone)]
pub struct OfferingDetail {
    /// The offering.
    pub offering: OfferingRow,
    /// Its catalog links, by catalog name and version.
    pub catalogs: Vec<LinkRow>,
    /// Its SLURM partitions, by name.
    pub partitions: Vec<PartitionRow>,
    /// Its SLURM QoS, by name.
    pub qos: Vec<QosRow>,
    /// Usernames of its managers.
    pub managers: Vec<String>,
}

const COLUMNS: &str = "o.id, o.uuid, o.name, o.type AS offering_type, o.created, o.modified";
const FROM: &str = "FROM offerings o";

/// One page of offerings, by name; `name` filters case-insensitively.
pub async fn list_offerings(
    db: &impl ConnectionTrait,
    name: Option<&str>,
    page: Page,
) -> Result<Listing<OfferingDetail>, DbErr> {
    let mut conditions = Conditions::new();
    conditions.contains("o.name", name);
    let listing: Listing<OfferingRow> = list(
        db,
        COLUMNS,
        FROM,
        &conditions,
        " ORDER BY o.name, o.id",
        page,
    )
    .await?;
    Ok(Listing {
        count: listing.count,
        rows: details(db, listing.rows).await?,
    })
}

/// An offering by UUID, with its catalogs and managers.
pub async fn get_offering(
    db: &impl ConnectionTrait,
    uuid: Uuid,
) -> Result<OfferingDetail, BrowseError> {
    let offering = OfferingRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE o.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("offering"))?;
    let mut details = details(db, vec![offering]).await?;
    details.pop().ok_or(BrowseError::NotFound("offering"))
}

/// The offerings with their catalog links and managers: three queries
/// whatever the number of offerings.
async fn details(
    db: &impl ConnectionTrait,
    offerings: Vec<OfferingRow>,
) -> Result<Vec<OfferingDetail>, DbErr> {
    let ids: Vec<i64> = offerings.iter().map(|offering| offering.id).collect();
    let mut catalogs: HashMap<i64, Vec<LinkRow>> = HashMap::new();
    for link in links(db, "l.offering_id = ANY($1)", vec![ids.clone().into()]).await? {
        catalogs.entry(link.offering_id).or_default().push(link);
    }
    let mut partitions: HashMap<i64, Vec<PartitionRow>> = HashMap::new();
    for (offering_id, partition) in super::partitions::partitions_of(db, ids.clone()).await? {
        partitions.entry(offering_id).or_default().push(partition);
    }
    let mut qos: HashMap<i64, Vec<QosRow>> = HashMap::new();
    for (offering_id, row) in super::qos::qos_of(db, ids.clone()).await? {
        qos.entry(offering_id).or_default().push(row);
    }
    #[derive(FromQueryResult)]
    struct Manager {
        offering_id: i64,
        username: String,
    }
    let mut managers: HashMap<i64, Vec<String>> = HashMap::new();
    let rows = Manager::find_by_statement(statement(
        db,
        "SELECT m.offering_id, u.username FROM offering_managers m \
         JOIN users u ON u.id = m.user_id \
         WHERE m.offering_id = ANY($1) ORDER BY u.username",
        [ids.into()],
    ))
    .all(db)
    .await?;
    for row in rows {
        managers
            .entry(row.offering_id)
            .or_default()
            .push(row.username);
    }
    Ok(offerings
        .into_iter()
        .map(|offering| OfferingDetail {
            catalogs: catalogs.remove(&offering.id).unwrap_or_default(),
            partitions: partitions.remove(&offering.id).unwrap_or_default(),
            qos: qos.remove(&offering.id).unwrap_or_default(),
            managers: managers.remove(&offering.id).unwrap_or_default(),
            offering,
        })
        .collect())
}

const LINK_COLUMNS: &str = "l.uuid, l.offering_id, o.uuid AS offering_uuid, \
    o.name AS offering_name, r.uuid AS partition_uuid, r.partition_name, \
    c.uuid AS catalog_uuid, c.name AS catalog_name, c.version AS catalog_version, \
    l.enabled_cpu_family, l.enabled_cpu_microarchitectures";
const LINK_FROM: &str = "FROM offering_software_catalogs l \
    JOIN offerings o ON o.id = l.offering_id \
    JOIN software_catalogs c ON c.id = l.catalog_id \
    LEFT JOIN offering_partitions r ON r.id = l.partition_id";
const LINK_ORDERINGS: [(&str, &str); 4] = [
    ("offering_name", "o.name"),
    ("catalog_name", "c.name"),
    ("partition_name", "r.partition_name"),
    ("partition_priority", "r.priority_tier"),
];

/// Filters of the listing of every catalog link (Waldur's).
#[derive(Debug, Clone, Default)]
pub struct LinkFilter {
    /// Exact offering.
    pub offering_uuid: Option<Uuid>,
    /// Case-insensitive part of the offering name.
    pub offering_name: Option<String>,
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Case-insensitive part of the catalog name.
    pub catalog_name: Option<String>,
    /// Exact partition.
    pub partition_uuid: Option<Uuid>,
    /// Case-insensitive part of the partition name.
    pub partition_name: Option<String>,
    /// Links for one partition (`true`) or for the whole offering.
    pub has_partition: Option<bool>,
    /// Links that enable this CPU family (or every family).
    pub cpu_family: Option<String>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

/// One page of catalog links, of every offering.
pub async fn list_links(
    db: &impl ConnectionTrait,
    filter: &LinkFilter,
    page: Page,
) -> Result<Listing<LinkRow>, BrowseError> {
    let order = order_by(
        &filter.ordering,
        &LINK_ORDERINGS,
        "o.name ASC, c.name ASC, c.version ASC",
        "l.id ASC",
    )?;
    let mut conditions = Conditions::new();
    conditions.equals("o.uuid", filter.offering_uuid);
    conditions.contains("o.name", filter.offering_name.as_deref());
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.contains("c.name", filter.catalog_name.as_deref());
    conditions.equals("r.uuid", filter.partition_uuid);
    conditions.contains("r.partition_name", filter.partition_name.as_deref());
    match filter.has_partition {
        Some(true) => conditions.push("l.partition_id IS NOT NULL"),
        Some(false) => conditions.push("l.partition_id IS NULL"),
        None => {}
    }
    if let Some(family) = &filter.cpu_family {
        let p = conditions.bind(family.clone());
        conditions.push(format!(
            "(jsonb_array_length(l.enabled_cpu_family) = 0 \
              OR l.enabled_cpu_family @> to_jsonb({p}::text))"
        ));
    }
    Ok(list(db, &link_columns(), LINK_FROM, &conditions, &order, page).await?)
}

/// A link's columns, with the count of the packages it provides.
fn link_columns() -> String {
    format!(
        "{LINK_COLUMNS}, (SELECT count(*) FROM software_packages p \
           WHERE p.catalog_id = l.catalog_id AND {}) AS package_count",
        link_provides(Level::Package)
    )
}

/// Catalog links matching `condition` (on link `l`), by catalog name and
/// version, each with the count of packages it enables.
async fn links(
    db: &impl ConnectionTrait,
    condition: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<LinkRow>, DbErr> {
    LinkRow::find_by_statement(statement(
        db,
        format!(
            "SELECT {} {LINK_FROM} WHERE {condition} \
             ORDER BY c.name, c.version, r.partition_name NULLS FIRST, l.id",
            link_columns()
        ),
        values,
    ))
    .all(db)
    .await
}

/// Creates an offering managed by the named users, in one transaction.
pub async fn create_offering(
    db: &DatabaseConnection,
    name: &str,
    offering_type: &str,
    managers: &[String],
) -> Result<OfferingDetail, BrowseError> {
    check_text("name", name)?;
    check_text("type", offering_type)?;
    let txn = db.begin().await?;
    let detail = insert_offering(&txn, name, offering_type, managers).await?;
    txn.commit().await?;
    Ok(detail)
}

async fn insert_offering(
    db: &impl ConnectionTrait,
    name: &str,
    offering_type: &str,
    managers: &[String],
) -> Result<OfferingDetail, BrowseError> {
    let mut manager_ids = Vec::with_capacity(managers.len());
    for username in managers {
        let user = crate::accounts::find_user(db, username)
            .await?
            .ok_or_else(|| BadParameter::new("managers", format!("no user {username:?}")))?;
        manager_ids.push(user.id);
    }
    let row = db
        .query_one_raw(statement(
            db,
            "INSERT INTO offerings (name, type) VALUES ($1, $2) RETURNING id, uuid",
            [name.into(), offering_type.into()],
        ))
        .await?
        .ok_or(BrowseError::NotFound("offering"))?;
    let id: i64 = row.try_get("", "id")?;
    let uuid: Uuid = row.try_get("", "uuid")?;
    for user_id in manager_ids {
        db.execute_raw(statement(
            db,
            "INSERT INTO offering_managers (offering_id, user_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            [id.into(), user_id.into()],
        ))
        .await?;
    }
    get_offering(db, uuid).await
}

/// The CPUs a link enables; empty lists enable every CPU of the catalog.
#[derive(Debug, Clone, Default)]
pub struct EnabledCpus {
    /// CPU families (`x86_64`).
    pub families: Vec<String>,
    /// Micro-architectures (`amd/zen4`).
    pub microarchitectures: Vec<String>,
}

/// Links a catalog to an offering, or to one of its partitions.
pub async fn add_link(
    db: &impl ConnectionTrait,
    offering_id: i64,
    catalog_uuid: Uuid,
    cpus: &EnabledCpus,
    partition: Option<Uuid>,
) -> Result<LinkRow, BrowseError> {
    let catalog_id = catalog_id(db, catalog_uuid)
        .await?
        .ok_or_else(|| BadParameter::new("catalog", format!("no catalog {catalog_uuid}")))?;
    let cpus = validate_cpus(db, catalog_id, cpus.clone()).await?;
    let partition = match partition {
        Some(uuid) => Some(partition_running(db, offering_id, uuid, &cpus).await?),
        None => None,
    };
    let inserted = db
        .query_one_raw(statement(
            db,
            "INSERT INTO offering_software_catalogs (offering_id, catalog_id, \
               enabled_cpu_family, enabled_cpu_microarchitectures, partition_id) \
             VALUES ($1, $2, $3, $4, $5) RETURNING uuid",
            [
                offering_id.into(),
                catalog_id.into(),
                serde_json::json!(cpus.families).into(),
                serde_json::json!(cpus.microarchitectures).into(),
                partition.as_ref().map(|p| p.id).into(),
            ],
        ))
        .await;
    let row = match inserted {
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let target = match &partition {
                Some(partition) => format!("partition {}", partition.partition_name),
                None => "the offering".to_owned(),
            };
            return Err(BadParameter::new(
                "catalog",
                format!("this catalog is already linked to {target}"),
            )
            .into());
        }
        other => other?.ok_or(BrowseError::NotFound("offering catalog"))?,
    };
    get_link(db, offering_id, row.try_get("", "uuid")?).await
}

/// Changes the CPUs a link enables, or the partition it is for; `None`
/// keeps a field as it is.
pub async fn update_link(
    db: &impl ConnectionTrait,
    offering_id: i64,
    link_uuid: Uuid,
    families: Option<Vec<String>>,
    microarchitectures: Option<Vec<String>>,
    partition: Option<Uuid>,
) -> Result<LinkRow, BrowseError> {
    let link = get_link(db, offering_id, link_uuid).await?;
    let current = |value: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(value.clone()).unwrap_or_default()
    };
    let cpus = EnabledCpus {
        families: families.unwrap_or_else(|| current(&link.enabled_cpu_family)),
        microarchitectures: microarchitectures
            .unwrap_or_else(|| current(&link.enabled_cpu_microarchitectures)),
    };
    let catalog_id = catalog_id(db, link.catalog_uuid)
        .await?
        .ok_or(BrowseError::NotFound("catalog"))?;
    let cpus = validate_cpus(db, catalog_id, cpus).await?;
    let partition = match partition.or(link.partition_uuid) {
        Some(uuid) => Some(partition_running(db, offering_id, uuid, &cpus).await?),
        None => None,
    };
    let updated = db
        .execute_raw(statement(
            db,
            "UPDATE offering_software_catalogs SET enabled_cpu_family = $2, \
               enabled_cpu_microarchitectures = $3, partition_id = $5, modified = now() \
             WHERE uuid = $1 AND offering_id = $4",
            [
                link_uuid.into(),
                serde_json::json!(cpus.families).into(),
                serde_json::json!(cpus.microarchitectures).into(),
                offering_id.into(),
                partition.as_ref().map(|p| p.id).into(),
            ],
        ))
        .await;
    if let Err(error) = updated {
        return Err(match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => BadParameter::new(
                "partition",
                "this catalog is already linked to that partition",
            )
            .into(),
            _ => error.into(),
        });
    }
    get_link(db, offering_id, link_uuid).await
}

/// Removes a link of this offering.
pub async fn remove_link(
    db: &impl ConnectionTrait,
    offering_id: i64,
    link_uuid: Uuid,
) -> Result<(), BrowseError> {
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM offering_software_catalogs WHERE uuid = $1 AND offering_id = $2",
            [link_uuid.into(), offering_id.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BadParameter::new(
            "offering_catalog_uuid",
            format!("no catalog link {link_uuid} on this offering"),
        )
        .into());
    }
    Ok(())
}

async fn get_link(
    db: &impl ConnectionTrait,
    offering_id: i64,
    link_uuid: Uuid,
) -> Result<LinkRow, BrowseError> {
    links(
        db,
        "l.offering_id = $1 AND l.uuid = $2",
        vec![offering_id.into(), link_uuid.into()],
    )
    .await?
    .pop()
    .ok_or_else(|| {
        BadParameter::new(
            "offering_catalog_uuid",
            format!("no catalog link {link_uuid} on this offering"),
        )
        .into()
    })
}

async fn catalog_id(db: &impl ConnectionTrait, uuid: Uuid) -> Result<Option<i64>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT id FROM software_catalogs WHERE uuid = $1",
            [uuid.into()],
        ))
        .await?;
    row.map(|row| row.try_get("", "id")).transpose()
}

/// The partition `uuid` of this offering, once every CPU a link enables
/// is one the partition's CPU can run (by archspec's graph; `generic` is
/// the family itself). A partition of another offering is not found.
async fn partition_running(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
    cpus: &EnabledCpus,
) -> Result<PartitionRow, BrowseError> {
    let partition = match super::partitions::get_partition(db, offering_id, uuid).await {
        Err(BrowseError::NotFound(_)) => {
            return Err(BadParameter::new(
                "partition",
                format!("no partition {uuid} on this offering"),
            )
            .into());
        }
        other => other?,
    };
    let Ok(host) = CpuTarget::parse(&partition.cpu_arch) else {
        return Ok(partition);
    };
    if let Some(family) = cpus.families.iter().find(|family| *family != host.family()) {
        return Err(BadParameter::new(
            "enabled_cpu_family",
            format!(
                "{family:?} cannot run on partition {} ({host})",
                partition.partition_name
            ),
        )
        .into());
    }
    if let Some(micro) = cpus
        .microarchitectures
        .iter()
        .find(|micro| !can_run(&host, host.family(), micro))
    {
        return Err(BadParameter::new(
            "enabled_cpu_microarchitectures",
            format!(
                "{micro:?} builds do not run on partition {} ({host})",
                partition.partition_name
            ),
        )
        .into());
    }
    Ok(partition)
}

/// Every enabled family and micro-architecture must be among the catalog's
/// targets; the first one that is not is named. A micro-architecture may be
/// given by its last segment (`zen3` for `amd/zen3`) when that names exactly
/// one of the catalog's; the full name is what is stored.
async fn validate_cpus(
    db: &impl ConnectionTrait,
    catalog_id: i64,
    mut cpus: EnabledCpus,
) -> Result<EnabledCpus, BrowseError> {
    if cpus.families.is_empty() && cpus.microarchitectures.is_empty() {
        return Ok(cpus);
    }
    let targets = super::catalogs::cpu_targets(db, catalog_id).await?;
    let families: BTreeSet<&str> = targets.iter().map(|t| t.family()).collect();
    let micros: BTreeSet<&str> = targets.iter().map(|t| t.microarchitecture()).collect();
    if let Some(bad) = cpus
        .families
        .iter()
        .find(|f| !families.contains(f.as_str()))
    {
        return Err(BadParameter::new(
            "enabled_cpu_family",
            format!("{bad:?} is not a CPU family of this catalog's targets"),
        )
        .into());
    }
    for micro in &mut cpus.microarchitectures {
        match resolve_microarchitecture(micro, &micros) {
            ShortName::Known(full) => *micro = full.to_owned(),
            ShortName::Unknown => {
                return Err(BadParameter::new(
                    "enabled_cpu_microarchitectures",
                    format!("{micro:?} is not a micro-architecture of this catalog's targets"),
                )
                .into());
            }
            ShortName::Ambiguous(candidates) => {
                return Err(BadParameter::new(
                    "enabled_cpu_microarchitectures",
                    format!(
                        "{micro:?} names several micro-architectures of this catalog; use one of {}",
                        candidates.join(", ")
                    ),
                )
                .into());
            }
        }
    }
    let mut seen = BTreeSet::new();
    cpus.microarchitectures
        .retain(|micro| seen.insert(micro.clone()));
    Ok(cpus)
}

/// Longest offering name, in characters (as the API's body bound).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest offering type, in characters.
pub const MAX_TYPE_CHARS: usize = 100;

/// Checks an offering's name or type: `name` not blank, both bounded and
/// free of NUL characters.
fn check_text(field: &'static str, value: &str) -> Result<(), BadParameter> {
    let limit = if field == "name" {
        MAX_NAME_CHARS
    } else {
        MAX_TYPE_CHARS
    };
    if field == "name" && value.trim().is_empty() {
        return Err(BadParameter::new(field, "may not be blank"));
    }
    if value.contains('\0') {
        return Err(BadParameter::new(field, "may not contain NUL characters"));
    }
    if value.chars().count() > limit {
        return Err(BadParameter::new(
            field,
            format!("may have at most {limit} characters"),
        ));
    }
    Ok(())
}

/// Changes an offering's name and type; `None` keeps a field as it is.
pub async fn update_offering(
    db: &impl ConnectionTrait,
    uuid: Uuid,
    name: Option<&str>,
    offering_type: Option<&str>,
) -> Result<OfferingDetail, BrowseError> {
    if let Some(name) = name {
        check_text("name", name)?;
    }
    if let Some(offering_type) = offering_type {
        check_text("type", offering_type)?;
    }
    let result = db
        .execute_raw(statement(
            db,
            "UPDATE offerings SET name = COALESCE($2, name), type = COALESCE($3, type), \
               modified = now() WHERE uuid = $1",
            [
                uuid.into(),
                name.map(str::to_owned).into(),
                offering_type.map(str::to_owned).into(),
            ],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BrowseError::NotFound("offering"));
    }
    get_offering(db, uuid).await
}

/// Deletes an offering; its catalog links and manager roles (and whatever
/// else references it with `ON DELETE CASCADE`) go with it.
pub async fn delete_offering(db: &impl ConnectionTrait, uuid: Uuid) -> Result<(), BrowseError> {
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM offerings WHERE uuid = $1",
            [uuid.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BrowseError::NotFound("offering"));
    }
    Ok(())
}

/// Makes the named user a manager of the offering; a user who manages it
/// already is a 400 naming `username`.
pub async fn add_manager(
    db: &impl ConnectionTrait,
    uuid: Uuid,
    username: &str,
) -> Result<OfferingDetail, BrowseError> {
    let offering = get_offering(db, uuid).await?;
    let user = manager_user(db, username).await?;
    let result = db
        .execute_raw(statement(
            db,
            "INSERT INTO offering_managers (offering_id, user_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            [offering.offering.id.into(), user.id.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BadParameter::new(
            "username",
            format!("{username:?} already manages this offering"),
        )
        .into());
    }
    get_offering(db, uuid).await
}

/// Removes the named user from the offering's managers; a user who does
/// not manage it is a 400 naming `username`.
pub async fn remove_manager(
    db: &impl ConnectionTrait,
    uuid: Uuid,
    username: &str,
) -> Result<OfferingDetail, BrowseError> {
    let offering = get_offering(db, uuid).await?;
    let user = manager_user(db, username).await?;
    let result = db
        .execute_raw(statement(
            db,
            "DELETE FROM offering_managers WHERE offering_id = $1 AND user_id = $2",
            [offering.offering.id.into(), user.id.into()],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(BadParameter::new(
            "username",
            format!("{username:?} does not manage this offering"),
        )
        .into());
    }
    get_offering(db, uuid).await
}

async fn manager_user(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<crate::accounts::User, BrowseError> {
    crate::accounts::find_user(db, username)
        .await?
        .ok_or_else(|| BadParameter::new("username", format!("no user {username:?}")).into())
}
