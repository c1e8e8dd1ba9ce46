//! SLURM partitions of an offering (Waldur's `OfferingPartition`): their
//! CPU and GPU, scheduling limits, and the listing with Waldur's filters.
//! A partition is always reached through its offering, so that one
//! offering's managers never touch another's.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, SqlErr, Value};
use uuid::Uuid;

use super::{BadParameter, BrowseError, Listing, Page, list, order_by, update_of_offering};
use crate::catalog::CpuTarget;
use crate::sql::{Conditions, statement};

/// The numeric limits of a partition, as (field, column) pairs: SLURM's
/// CPU, memory (MB), time (minutes; `grace_time` in seconds) and node
/// limits. Each is absent or a non-negative whole number.
pub const LIMITS: [&str; 15] = [
    "priority_tier",
    "cpu_bind",
    "def_cpu_per_gpu",
    "max_cpus_per_node",
    "max_cpus_per_socket",
    "def_mem_per_cpu",
    "def_mem_per_gpu",
    "def_mem_per_node",
    "max_mem_per_cpu",
    "max_mem_per_node",
    "default_time",
    "max_time",
    "grace_time",
    "max_nodes",
    "min_nodes",
];

/// Limits that must not exceed another: (smaller, larger).
const ORDERED_LIMITS: [(&str, &str); 4] = [
    ("min_nodes", "max_nodes"),
    ("default_time", "max_time"),
    ("def_mem_per_cpu", "max_mem_per_cpu"),
    ("def_mem_per_node", "max_mem_per_node"),
];

/// The switches of a partition.
pub const FLAGS: [&str; 3] = ["exclusive_topo", "exclusive_user", "req_resv"];

/// Limits given, by their names in [`LIMITS`].
pub type Limits = Vec<(&'static str, i64)>;

/// Switches given, by their names in [`FLAGS`].
pub type Flags = Vec<(&'static str, bool)>;

/// Longest partition name, CPU, GPU or QoS text taken.
const MAX_TEXT: usize = 200;

/// A partition as the API shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PartitionRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// The offering's UUID.
    pub offering_uuid: Uuid,
    /// The offering's name.
    pub offering_name: String,
    /// SLURM's name of the partition.
    pub partition_name: String,
    /// The nodes' CPU (`x86_64/amd/zen4`), empty when not said.
    pub cpu_arch: String,
    /// The nodes' GPU (`nvidia/cc90`), empty when none.
    pub gpu_arch: String,
    /// The limits, by their names in [`LIMITS`].
    pub limits: serde_json::Value,
    /// Jobs get whole topology units.
    pub exclusive_topo: bool,
    /// Nodes are given to one user at a time.
    pub exclusive_user: bool,
    /// Jobs need a reservation.
    pub req_resv: bool,
    /// The partition's QoS name.
    pub qos: String,
    /// The QoS it allows: `[{qos_uuid, name, is_default}]`, by name.
    pub qos_options: serde_json::Value,
    /// When it was created.
    pub created: DateTime<FixedOffset>,
    /// When it last changed.
    pub modified: DateTime<FixedOffset>,
}

impl PartitionRow {
    /// A limit by its name in [`LIMITS`].
    pub fn limit(&self, name: &str) -> Option<i64> {
        self.limits.get(name).and_then(serde_json::Value::as_i64)
    }
}

/// What a caller sets on a partition; absent fields are left as they are
/// (on creation: unset).
#[derive(Debug, Clone, Default)]
pub struct PartitionFields {
    /// SLURM's name of the partition; required on creation.
    pub partition_name: Option<String>,
    /// The nodes' CPU as a catalog target names it (`x86_64/amd/zen4`);
    /// empty to unset.
    pub cpu_arch: Option<String>,
    /// The nodes' GPU (`nvidia/cc90`); empty for none.
    pub gpu_arch: Option<String>,
    /// The limits given.
    pub limits: Limits,
    /// The switches given.
    pub flags: Flags,
    /// The partition's QoS name.
    pub qos: Option<String>,
}

impl PartitionFields {
    /// Checks each field alone; the names in errors are the API's.
    fn validate(&self) -> Result<(), BadParameter> {
        if let Some(name) = &self.partition_name {
            let plain = !name.is_empty()
                && name.len() <= MAX_TEXT
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !plain {
                return Err(BadParameter::new(
                    "partition_name",
                    "a SLURM partition name is required: letters, digits, `_`, `-` and `.`, at most 200",
                ));
            }
        }
        if let Some(cpu) = self.cpu_arch.as_deref().filter(|cpu| !cpu.is_empty()) {
            CpuTarget::parse(cpu)
                .map_err(|error| BadParameter::new("cpu_arch", error.to_string()))?;
        }
        if let Some(gpu) = self.gpu_arch.as_deref().filter(|gpu| !gpu.is_empty()) {
            let plain = gpu.len() <= MAX_TEXT
                && gpu.split('/').count() >= 2
                && gpu.split('/').all(|segment| {
                    !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
                });
            if !plain {
                return Err(BadParameter::new(
                    "gpu_arch",
                    format!("{gpu:?} is not a GPU architecture such as nvidia/cc90"),
                ));
            }
        }
        if let Some(qos) = &self.qos
            && (qos.len() > MAX_TEXT || qos.chars().any(char::is_control))
        {
            return Err(BadParameter::new(
                "qos",
                "printable text of at most 200 characters is required",
            ));
        }
        for (name, value) in &self.limits {
            if *value < 0 {
                return Err(BadParameter::new(*name, "must not be negative"));
            }
        }
        Ok(())
    }
}

const COLUMNS: &str = "r.id, r.uuid, o.uuid AS offering_uuid, o.name AS offering_name, \
    r.partition_name, r.cpu_arch, r.gpu_arch, r.exclusive_topo, r.exclusive_user, r.req_resv, \
    r.qos, r.created, r.modified, \
    jsonb_build_object('priority_tier', r.priority_tier, 'cpu_bind', r.cpu_bind, \
      'def_cpu_per_gpu', r.def_cpu_per_gpu, 'max_cpus_per_node', r.max_cpus_per_node, \
      'max_cpus_per_socket', r.max_cpus_per_socket, 'def_mem_per_cpu', r.def_mem_per_cpu, \
      'def_mem_per_gpu', r.def_mem_per_gpu, 'def_mem_per_node', r.def_mem_per_node, \
      'max_mem_per_cpu', r.max_mem_per_cpu, 'max_mem_per_node', r.max_mem_per_node, \
      'default_time', r.default_time, 'max_time', r.max_time, 'grace_time', r.grace_time, \
      'max_nodes', r.max_nodes, 'min_nodes', r.min_nodes) AS limits, \
    (SELECT coalesce(jsonb_agg(jsonb_build_object('qos_uuid', q.uuid, 'name', q.name, \
              'is_default', pq.is_default) ORDER BY q.name), '[]'::jsonb) \
       FROM partition_qos pq JOIN offering_qos q ON q.id = pq.qos_id \
       WHERE pq.partition_id = r.id) AS qos_options";
const FROM: &str = "FROM offering_partitions r JOIN offerings o ON o.id = r.offering_id";
const ORDERINGS: [(&str, &str); 6] = [
    ("partition_name", "r.partition_name"),
    ("offering_name", "o.name"),
    ("priority_tier", "r.priority_tier"),
    ("max_nodes", "r.max_nodes"),
    ("max_time", "r.max_time"),
    ("created", "r.created"),
];

/// Filters of the partition listing (Waldur's).
#[derive(Debug, Clone, Default)]
pub struct PartitionFilter {
    /// Exact offering.
    pub offering_uuid: Option<Uuid>,
    /// Case-insensitive part of the offering name.
    pub offering_name: Option<String>,
    /// Case-insensitive part of the partition name.
    pub partition_name: Option<String>,
    /// Case-insensitive part of the CPU.
    pub cpu_arch: Option<String>,
    /// Case-insensitive part of the GPU.
    pub gpu_arch: Option<String>,
    /// Partitions with (`true`) or without a GPU.
    pub has_gpu: Option<bool>,
    /// Case-insensitive part of the QoS.
    pub qos: Option<String>,
    /// Exact limits.
    pub limits: Limits,
    /// Exact switches.
    pub flags: Flags,
    /// `o=` values.
    pub ordering: Vec<String>,
}

/// One page of partitions, by offering then name.
pub async fn list_partitions(
    db: &impl ConnectionTrait,
    filter: &PartitionFilter,
    page: Page,
) -> Result<Listing<PartitionRow>, BrowseError> {
    let order = order_by(
        &filter.ordering,
        &ORDERINGS,
        "o.name ASC, r.partition_name ASC",
        "r.id ASC",
    )?;
    let mut conditions = Conditions::new();
    conditions.equals("o.uuid", filter.offering_uuid);
    conditions.contains("o.name", filter.offering_name.as_deref());
    conditions.contains("r.partition_name", filter.partition_name.as_deref());
    conditions.contains("r.cpu_arch", filter.cpu_arch.as_deref());
    conditions.contains("r.gpu_arch", filter.gpu_arch.as_deref());
    conditions.contains("r.qos", filter.qos.as_deref());
    match filter.has_gpu {
        Some(true) => conditions.push("r.gpu_arch <> ''"),
        Some(false) => conditions.push("r.gpu_arch = ''"),
        None => {}
    }
    for (name, value) in &filter.limits {
        conditions.equals(&column(name), Some(*value));
    }
    for (name, value) in &filter.flags {
        conditions.equals(&column(name), Some(*value));
    }
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// The column of a limit or switch name; names come from [`LIMITS`] and
/// [`FLAGS`], never from a caller's text.
fn column(name: &'static str) -> String {
    format!("r.{name}")
}

/// The partitions of some offerings, by offering id, each by name.
pub async fn partitions_of(
    db: &impl ConnectionTrait,
    offering_ids: Vec<i64>,
) -> Result<Vec<(i64, PartitionRow)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Owner {
        offering_id: i64,
    }
    let sql = format!(
        "SELECT r.offering_id, {COLUMNS} {FROM} WHERE r.offering_id = ANY($1) \
         ORDER BY r.partition_name, r.id"
    );
    let rows = db
        .query_all_raw(statement(db, sql, [offering_ids.into()]))
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                Owner::from_query_result(row, "")?.offering_id,
                PartitionRow::from_query_result(row, "")?,
            ))
        })
        .collect()
}

/// A partition of this offering; one of another offering is not found here.
pub async fn get_partition(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
) -> Result<PartitionRow, BrowseError> {
    PartitionRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE r.offering_id = $1 AND r.uuid = $2"),
        [offering_id.into(), uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("partition"))
}

/// Adds a partition to an offering.
pub async fn add_partition(
    db: &impl ConnectionTrait,
    offering_id: i64,
    fields: &PartitionFields,
) -> Result<PartitionRow, BrowseError> {
    fields.validate()?;
    let name = fields
        .partition_name
        .clone()
        .ok_or_else(|| BadParameter::new("partition_name", "this field is required"))?;
    check_ordered(fields, None)?;
    let row = db
        .query_one_raw(statement(
            db,
            "INSERT INTO offering_partitions (offering_id, partition_name) VALUES ($1, $2) \
             RETURNING uuid",
            [offering_id.into(), name.clone().into()],
        ))
        .await
        .map_err(|error| taken(error, &name))?
        .ok_or(BrowseError::NotFound("partition"))?;
    let uuid: Uuid = row.try_get("", "uuid")?;
    write_fields(db, offering_id, uuid, fields).await
}

/// Changes a partition of this offering.
pub async fn update_partition(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
    fields: &PartitionFields,
) -> Result<PartitionRow, BrowseError> {
    fields.validate()?;
    let current = get_partition(db, offering_id, uuid).await?;
    check_ordered(fields, Some(&current))?;
    write_fields(db, offering_id, uuid, fields).await
}

/// Removes a partition of this offering. A partition that catalog links
/// name is kept: the links say what users run there, and are removed first.
pub async fn remove_partition(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
) -> Result<(), BrowseError> {
    let partition = get_partition(db, offering_id, uuid).await?;
    let links = db
        .query_one_raw(statement(
            db,
            "SELECT count(*) AS links FROM offering_software_catalogs WHERE partition_id = $1",
            [partition.id.into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "links"))
        .transpose()?
        .unwrap_or(0);
    if links > 0 {
        return Err(BrowseError::Conflict(format!(
            "partition {} has {links} software catalog link(s); remove them first",
            partition.partition_name
        )));
    }
    db.execute_raw(statement(
        db,
        "DELETE FROM offering_partitions WHERE id = $1",
        [partition.id.into()],
    ))
    .await?;
    Ok(())
}

/// Each smaller limit must not exceed its larger one, the stored values
/// standing in for the ones not given.
fn check_ordered(
    fields: &PartitionFields,
    current: Option<&PartitionRow>,
) -> Result<(), BadParameter> {
    let value = |name: &str| {
        fields
            .limits
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| *value)
            .or_else(|| current.and_then(|row| row.limit(name)))
    };
    for (smaller, larger) in ORDERED_LIMITS {
        if let (Some(low), Some(high)) = (value(smaller), value(larger))
            && low > high
        {
            return Err(BadParameter::new(
                smaller,
                format!("{smaller} ({low}) must not exceed {larger} ({high})"),
            ));
        }
    }
    Ok(())
}

async fn write_fields(
    db: &impl ConnectionTrait,
    offering_id: i64,
    uuid: Uuid,
    fields: &PartitionFields,
) -> Result<PartitionRow, BrowseError> {
    let texts = [
        ("partition_name", &fields.partition_name),
        ("cpu_arch", &fields.cpu_arch),
        ("gpu_arch", &fields.gpu_arch),
        ("qos", &fields.qos),
    ];
    let mut columns: Vec<(&str, Value)> = texts
        .into_iter()
        .filter_map(|(column, value)| Some((column, value.clone()?.into())))
        .collect();
    columns.extend(
        fields
            .limits
            .iter()
            .map(|(column, value)| (*column, (*value).into())),
    );
    columns.extend(
        fields
            .flags
            .iter()
            .map(|(column, value)| (*column, (*value).into())),
    );
    let name = fields.partition_name.clone().unwrap_or_default();
    update_of_offering(db, "offering_partitions", offering_id, uuid, columns)
        .await
        .map_err(|error| taken(error, &name))?;
    get_partition(db, offering_id, uuid).await
}

fn taken(error: DbErr, name: &str) -> BrowseError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => BrowseError::Invalid(BadParameter::new(
            "partition_name",
            format!("this offering already has a partition {name}"),
        )),
        _ => BrowseError::Db(error),
    }
}
