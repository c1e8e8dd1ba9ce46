//! `/api/marketplace-offering-partitions/`: every offering's SLURM
//! partitions with Waldur's filters, and the partition objects and bodies
//! the offering actions (`add_partition`, `update_partition`,
//! `remove_partition`) use.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::partitions::{
    self, FLAGS, Flags, LIMITS, Limits, PartitionFields, PartitionFilter, PartitionRow,
};
use softcat_shared::browse::qos::{QOS_LIMITS, QOS_TRES, QosFields, QosRow};
use uuid::Uuid;

use super::{Tag, examples};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::listing::{list_response, page_of};
use crate::state::AppState;

/// A SLURM partition of an offering.
#[derive(Debug, Object)]
pub struct Partition {
    /// Identity (`partition_uuid` in the offering actions).
    pub uuid: Uuid,
    /// The offering's UUID.
    pub offering: Uuid,
    /// The offering's name.
    pub offering_name: String,
    /// SLURM's name of the partition.
    pub partition_name: String,
    /// The nodes' CPU (`x86_64/amd/zen4`); empty when not said.
    pub cpu_arch: String,
    /// The nodes' GPU (`nvidia/cc90`); empty for CPU-only nodes.
    pub gpu_arch: String,
    /// The partition's QoS.
    pub qos: String,
    /// The QoS it allows (`set_partition_qos`), by name.
    pub qos_options: Vec<QosOption>,
    /// The limits and switches.
    #[oai(flatten)]
    pub settings: PartitionSettings,
    /// When it was created.
    pub created: DateTime<FixedOffset>,
    /// When it last changed.
    pub modified: DateTime<FixedOffset>,
}

/// One QoS a partition allows.
#[derive(Debug, Object, serde::Deserialize)]
pub struct QosOption {
    /// The QoS's UUID.
    pub qos_uuid: Uuid,
    /// Its name (shown; ignored in `set_partition_qos`).
    #[serde(default)]
    #[oai(default)]
    pub name: String,
    /// Whether jobs get it when they ask for none (at most one per partition).
    #[serde(default)]
    #[oai(default)]
    pub is_default: bool,
}

/// `set_partition_qos`'s body: the whole list of QoS a partition allows.
#[derive(Debug, Object)]
pub struct PartitionQos {
    /// Which partition of this offering.
    pub partition_uuid: Uuid,
    /// Its QoS, replacing what it had.
    pub qos_options: Vec<QosOption>,
}

/// A SLURM QoS of an offering.
#[derive(Debug, Object)]
pub struct Qos {
    /// Identity (`qos_uuid` in the actions).
    pub uuid: Uuid,
    /// SLURM's name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Limits and TRES strings.
    #[oai(flatten)]
    pub settings: QosSettings,
    /// When it was created.
    pub created: DateTime<FixedOffset>,
    /// When it last changed.
    pub modified: DateTime<FixedOffset>,
}

/// A QoS's limits (non-negative whole numbers) and TRES lists
/// (`cpu=32,mem=64G,gres/gpu=4`).
#[derive(Debug, Default, Object, serde::Deserialize)]
pub struct QosSettings {
    /// SLURM's Priority.
    #[oai(nullable)]
    pub priority: Option<i64>,
    /// MaxWall, minutes.
    #[oai(nullable)]
    pub max_wall: Option<i64>,
    /// MaxJobsPerUser.
    #[oai(nullable)]
    pub max_jobs_per_user: Option<i64>,
    /// MaxSubmitJobsPerUser.
    #[oai(nullable)]
    pub max_submit_jobs_per_user: Option<i64>,
    /// MaxNodes.
    #[oai(nullable)]
    pub max_nodes: Option<i64>,
    /// GrpTRES.
    #[oai(nullable)]
    pub grp_tres: Option<String>,
    /// MaxTRESPerJob.
    #[oai(nullable)]
    pub max_tres_per_job: Option<String>,
    /// MaxTRESPerUser.
    #[oai(nullable)]
    pub max_tres_per_user: Option<String>,
}

/// `add_qos`'s body.
#[derive(Debug, Object)]
pub struct QosCreate {
    /// SLURM's name, unique in the offering, not all digits.
    pub name: String,
    /// Free text.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Limits and TRES lists.
    #[oai(flatten)]
    pub settings: QosSettings,
}

/// `update_qos`'s body.
#[derive(Debug, Object)]
pub struct QosUpdate {
    /// Which QoS of this offering.
    pub qos_uuid: Uuid,
    /// A new name.
    #[oai(nullable)]
    pub name: Option<String>,
    /// Free text.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Limits and TRES lists to change.
    #[oai(flatten)]
    pub settings: QosSettings,
}

/// `remove_qos`'s body.
#[derive(Debug, Object)]
pub struct QosRemove {
    /// Which QoS of this offering.
    pub qos_uuid: Uuid,
}

impl QosSettings {
    fn fields(self, name: Option<String>, description: Option<String>) -> QosFields {
        let limits = [
            self.priority,
            self.max_wall,
            self.max_jobs_per_user,
            self.max_submit_jobs_per_user,
            self.max_nodes,
        ];
        let tres = [self.grp_tres, self.max_tres_per_job, self.max_tres_per_user];
        QosFields {
            name,
            description,
            limits: QOS_LIMITS
                .into_iter()
                .zip(limits)
                .filter_map(|(field, value)| Some((field, value?)))
                .collect(),
            tres: QOS_TRES
                .into_iter()
                .zip(tres)
                .filter_map(|(field, value)| Some((field, value?)))
                .collect(),
        }
    }
}

impl QosCreate {
    /// The fields as the domain takes them.
    pub fn fields(self) -> QosFields {
        self.settings.fields(Some(self.name), self.description)
    }
}

impl QosUpdate {
    /// The fields as the domain takes them.
    pub fn fields(self) -> QosFields {
        self.settings.fields(self.name, self.description)
    }
}

/// A QoS object from its row.
pub fn qos_object(row: QosRow) -> Qos {
    Qos {
        uuid: row.uuid,
        name: row.name,
        description: row.description,
        settings: serde_json::from_value(row.settings).unwrap_or_default(),
        created: row.created,
        modified: row.modified,
    }
}

/// A partition's SLURM limits and switches; every number is a
/// non-negative whole number.
#[derive(Debug, Default, Object, serde::Deserialize)]
pub struct PartitionSettings {
    /// SLURM's PriorityTier.
    #[oai(nullable)]
    pub priority_tier: Option<i64>,
    /// SLURM's CpuBind (task binding), as a number.
    #[oai(nullable)]
    pub cpu_bind: Option<i64>,
    /// Default CPUs per GPU.
    #[oai(nullable)]
    pub def_cpu_per_gpu: Option<i64>,
    /// CPUs a job may use per node.
    #[oai(nullable)]
    pub max_cpus_per_node: Option<i64>,
    /// CPUs a job may use per socket.
    #[oai(nullable)]
    pub max_cpus_per_socket: Option<i64>,
    /// Default memory per CPU, MB.
    #[oai(nullable)]
    pub def_mem_per_cpu: Option<i64>,
    /// Default memory per GPU, MB.
    #[oai(nullable)]
    pub def_mem_per_gpu: Option<i64>,
    /// Default memory per node, MB.
    #[oai(nullable)]
    pub def_mem_per_node: Option<i64>,
    /// Most memory per CPU, MB (not below `def_mem_per_cpu`).
    #[oai(nullable)]
    pub max_mem_per_cpu: Option<i64>,
    /// Most memory per node, MB (not below `def_mem_per_node`).
    #[oai(nullable)]
    pub max_mem_per_node: Option<i64>,
    /// Default time limit, minutes (not above `max_time`).
    #[oai(nullable)]
    pub default_time: Option<i64>,
    /// Time limit, minutes.
    #[oai(nullable)]
    pub max_time: Option<i64>,
    /// Grace time at preemption, seconds.
    #[oai(nullable)]
    pub grace_time: Option<i64>,
    /// Most nodes per job.
    #[oai(nullable)]
    pub max_nodes: Option<i64>,
    /// Fewest nodes per job (not above `max_nodes`).
    #[oai(nullable)]
    pub min_nodes: Option<i64>,
    /// Jobs get whole topology units.
    #[oai(nullable)]
    pub exclusive_topo: Option<bool>,
    /// Nodes are given to one user at a time.
    #[oai(nullable)]
    pub exclusive_user: Option<bool>,
    /// Jobs need a reservation.
    #[oai(nullable)]
    pub req_resv: Option<bool>,
}

impl PartitionSettings {
    fn limits(&self) -> [Option<i64>; 15] {
        [
            self.priority_tier,
            self.cpu_bind,
            self.def_cpu_per_gpu,
            self.max_cpus_per_node,
            self.max_cpus_per_socket,
            self.def_mem_per_cpu,
            self.def_mem_per_gpu,
            self.def_mem_per_node,
            self.max_mem_per_cpu,
            self.max_mem_per_node,
            self.default_time,
            self.max_time,
            self.grace_time,
            self.max_nodes,
            self.min_nodes,
        ]
    }

    fn flags(&self) -> [Option<bool>; 3] {
        [self.exclusive_topo, self.exclusive_user, self.req_resv]
    }

    /// The settings given, as the domain names them.
    fn given(&self) -> (Limits, Flags) {
        let limits = LIMITS
            .into_iter()
            .zip(self.limits())
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        let flags = FLAGS
            .into_iter()
            .zip(self.flags())
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        (limits, flags)
    }

    fn of_row(row: &PartitionRow) -> Self {
        Self {
            exclusive_topo: Some(row.exclusive_topo),
            exclusive_user: Some(row.exclusive_user),
            req_resv: Some(row.req_resv),
            // The row's limits are a JSON object of exactly these fields.
            ..serde_json::from_value(row.limits.clone()).unwrap_or_default()
        }
    }
}

/// `add_partition`'s body.
#[derive(Debug, Object)]
pub struct PartitionCreate {
    /// SLURM's name of the partition, unique in the offering.
    pub partition_name: String,
    /// The nodes' CPU as catalog targets name it (`x86_64/amd/zen4`).
    #[oai(nullable)]
    pub cpu_arch: Option<String>,
    /// The nodes' GPU (`nvidia/cc90`).
    #[oai(nullable)]
    pub gpu_arch: Option<String>,
    /// The partition's QoS.
    #[oai(nullable)]
    pub qos: Option<String>,
    /// Limits and switches.
    #[oai(flatten)]
    pub settings: PartitionSettings,
}

/// `update_partition`'s body: the partition and the fields to change.
#[derive(Debug, Object)]
pub struct PartitionUpdate {
    /// Which partition of this offering.
    pub partition_uuid: Uuid,
    /// A new name.
    #[oai(nullable)]
    pub partition_name: Option<String>,
    /// The nodes' CPU; empty to unset.
    #[oai(nullable)]
    pub cpu_arch: Option<String>,
    /// The nodes' GPU; empty for none.
    #[oai(nullable)]
    pub gpu_arch: Option<String>,
    /// The partition's QoS.
    #[oai(nullable)]
    pub qos: Option<String>,
    /// Limits and switches to change.
    #[oai(flatten)]
    pub settings: PartitionSettings,
}

/// `remove_partition`'s body.
#[derive(Debug, Object)]
pub struct PartitionRemove {
    /// Which partition of this offering.
    pub partition_uuid: Uuid,
}

impl PartitionCreate {
    /// The fields as the domain takes them.
    pub fn fields(self) -> PartitionFields {
        let (limits, flags) = self.settings.given();
        PartitionFields {
            partition_name: Some(self.partition_name),
            cpu_arch: self.cpu_arch,
            gpu_arch: self.gpu_arch,
            limits,
            flags,
            qos: self.qos,
        }
    }
}

impl PartitionUpdate {
    /// The fields as the domain takes them.
    pub fn fields(self) -> PartitionFields {
        let (limits, flags) = self.settings.given();
        PartitionFields {
            partition_name: self.partition_name,
            cpu_arch: self.cpu_arch,
            gpu_arch: self.gpu_arch,
            limits,
            flags,
            qos: self.qos,
        }
    }
}

/// A partition object from its row.
pub fn partition_object(row: PartitionRow) -> Partition {
    Partition {
        settings: PartitionSettings::of_row(&row),
        uuid: row.uuid,
        offering: row.offering_uuid,
        offering_name: row.offering_name,
        partition_name: row.partition_name,
        cpu_arch: row.cpu_arch,
        gpu_arch: row.gpu_arch,
        qos: row.qos,
        qos_options: serde_json::from_value(row.qos_options).unwrap_or_default(),
        created: row.created,
        modified: row.modified,
    }
}

list_response!(PartitionPage, PartitionList, Partition);

/// The partition listing.
pub struct PartitionsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(
    prefix_path = "/api/marketplace-offering-partitions",
    tag = "Tag::Offerings"
)]
impl PartitionsApi {
    /// List partitions
    ///
    /// Every offering's SLURM partitions, by offering and name.
    #[oai(path = "/", method = "get", operation_id = "offering_partitions_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Exact offering.
        offering_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the offering name.
        offering_name: Query<Option<String>>,
        /// Case-insensitive part of the partition name.
        partition_name: Query<Option<String>>,
        /// Case-insensitive part of the CPU, e.g. `zen4`.
        cpu_arch: Query<Option<String>>,
        /// Case-insensitive part of the GPU, e.g. `cc90`.
        gpu_arch: Query<Option<String>>,
        /// Partitions with (`true`) or without a GPU.
        has_gpu: Query<Option<bool>>,
        /// Case-insensitive part of the QoS.
        qos: Query<Option<String>>,
        /// Exact priority tier.
        priority_tier: Query<Option<i64>>,
        /// Exact most nodes per job.
        max_nodes: Query<Option<i64>>,
        /// Exact fewest nodes per job.
        min_nodes: Query<Option<i64>>,
        /// Exact time limit, minutes.
        max_time: Query<Option<i64>>,
        /// Exact default time limit, minutes.
        default_time: Query<Option<i64>>,
        /// Exact CPUs per node.
        max_cpus_per_node: Query<Option<i64>>,
        /// Partitions whose nodes go to one user at a time.
        exclusive_user: Query<Option<bool>>,
        /// Partitions whose jobs get whole topology units.
        exclusive_topo: Query<Option<bool>>,
        /// Partitions whose jobs need a reservation.
        req_resv: Query<Option<bool>>,
        /// Ordering: `partition_name`, `offering_name`, `priority_tier`,
        /// `max_nodes`, `max_time`, `created`, each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<PartitionList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let limits = [
            ("priority_tier", priority_tier.0),
            ("max_nodes", max_nodes.0),
            ("min_nodes", min_nodes.0),
            ("max_time", max_time.0),
            ("default_time", default_time.0),
            ("max_cpus_per_node", max_cpus_per_node.0),
        ];
        let flags = [
            ("exclusive_user", exclusive_user.0),
            ("exclusive_topo", exclusive_topo.0),
            ("req_resv", req_resv.0),
        ];
        let filter = PartitionFilter {
            offering_uuid: offering_uuid.0,
            offering_name: offering_name.0,
            partition_name: partition_name.0,
            cpu_arch: cpu_arch.0,
            gpu_arch: gpu_arch.0,
            has_gpu: has_gpu.0,
            qos: qos.0,
            limits: limits
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect(),
            flags: flags
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect(),
            ordering: o.0.unwrap_or_default(),
        };
        let listing = partitions::list_partitions(&self.state.db, &filter, page).await?;
        PartitionList::from_listing(request, &self.state, page, listing, |_, row| {
            partition_object(row)
        })
    }
}
