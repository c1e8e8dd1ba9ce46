//! `/api/marketplace-provider-offerings/`: offerings, the catalogs they
//! provide, the three link actions managers use, and the staff edits:
//! `PATCH`, `DELETE`, `add_manager` and `remove_manager`.
//!
//! Only staff add and remove managers: a manager is someone staff trusted
//! with one offering's links, and letting managers appoint (or remove)
//! each other would let that trust spread, or lock co-managers out,
//! without staff knowing.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use softcat_shared::browse::offerings::{self, EnabledCpus, LinkFilter, LinkRow, OfferingDetail};
use softcat_shared::browse::{partitions, qos};
use uuid::Uuid;

use super::partitions::{
    Partition, PartitionCreate, PartitionQos, PartitionRemove, PartitionUpdate, Qos, QosCreate,
    QosRemove, QosUpdate, partition_object, qos_object,
};
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-provider-offerings";

/// An offering and the software catalogs it provides.
#[derive(Debug, Object)]
pub struct Offering {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// Offering name.
    pub name: String,
    /// Offering type.
    #[oai(rename = "type")]
    pub offering_type: String,
    /// Usernames of the offering's managers.
    pub managers: Vec<String>,
    /// Catalogs the offering provides.
    pub software_catalogs: Vec<OfferingCatalog>,
    /// Its SLURM partitions, by name.
    pub partitions: Vec<Partition>,
    /// Its SLURM QoS, by name.
    pub qos: Vec<Qos>,
    /// Creation time.
    pub created: DateTime<FixedOffset>,
}

/// One catalog an offering provides, for the CPUs it enables.
#[derive(Debug, Object)]
pub struct OfferingCatalog {
    /// The link's UUID, used by the update and remove actions.
    pub offering_catalog_uuid: Uuid,
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// Enabled CPU families; empty enables all.
    pub enabled_cpu_family: serde_json::Value,
    /// Enabled micro-architectures; empty enables all.
    pub enabled_cpu_microarchitectures: serde_json::Value,
    /// The partition the link is for; null for the whole offering.
    #[oai(nullable)]
    pub partition: Option<Uuid>,
    /// That partition's name.
    #[oai(nullable)]
    pub partition_name: Option<String>,
    /// The offering's UUID.
    pub offering: Uuid,
    /// The offering's name.
    pub offering_name: String,
    /// Packages with a target the link enables.
    pub package_count: i64,
}

/// Fields staff send to create an offering.
#[derive(Debug, Object)]
pub struct OfferingCreate {
    /// Offering name.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub name: String,
    /// Offering type.
    #[oai(
        rename = "type",
        default,
        validator(max_length = 100, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub offering_type: String,
    /// Usernames of its managers.
    #[oai(
        default,
        validator(max_items = 100, max_length = 150, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub managers: Vec<String>,
}

/// `add_software_catalog`: link a catalog.
#[derive(Debug, Object)]
pub struct AddCatalog {
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// CPU families to enable, e.g. `["x86_64"]`; empty enables all.
    #[oai(
        default,
        validator(max_items = 64, max_length = 64, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub enabled_cpu_family: Vec<String>,
    /// Micro-architectures to enable, e.g. `["amd/zen4"]`; empty enables all.
    #[oai(
        default,
        validator(max_items = 256, max_length = 128, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub enabled_cpu_microarchitectures: Vec<String>,
    /// A partition of this offering the link is for (default: the whole
    /// offering); its CPU must run every enabled micro-architecture.
    #[oai(nullable)]
    pub partition: Option<Uuid>,
}

/// `update_software_catalog`: change the CPUs a link enables.
#[derive(Debug, Object)]
pub struct UpdateCatalog {
    /// The link to change.
    pub offering_catalog_uuid: Uuid,
    /// New CPU families; absent keeps them.
    #[oai(validator(max_items = 64, max_length = 64, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub enabled_cpu_family: Option<Vec<String>>,
    /// New micro-architectures; absent keeps them.
    #[oai(validator(max_items = 256, max_length = 128, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub enabled_cpu_microarchitectures: Option<Vec<String>>,
    /// A partition of this offering the link is now for.
    #[oai(nullable)]
    pub partition: Option<Uuid>,
}

/// `remove_software_catalog`: unlink a catalog.
#[derive(Debug, Object)]
pub struct RemoveCatalog {
    /// The link to remove.
    pub offering_catalog_uuid: Uuid,
}

/// Staff's change to an offering; absent fields are kept.
#[derive(Debug, Object)]
pub struct OfferingUpdate {
    /// Offering name (not blank, at most 255 characters); absent or null keeps it.
    #[oai(nullable)]
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub name: Option<String>,
    /// Offering type (at most 100 characters); absent or null keeps it.
    #[oai(
        rename = "type",
        nullable,
        validator(max_length = 100, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub offering_type: Option<String>,
}

/// `add_manager` / `remove_manager`: the user concerned.
#[derive(Debug, Object)]
pub struct ManagerChange {
    /// The user's login name.
    #[oai(validator(max_length = 150, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub username: String,
}

/// Answer to a delete.
#[derive(ApiResponse)]
pub enum OfferingDeleted {
    /// Deleted, with its catalog links and manager roles.
    #[oai(status = 204)]
    NoContent,
}

list_response!(OfferingPage, OfferingList, Offering);

/// Answer to a create.
#[derive(ApiResponse)]
pub enum OfferingCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Offering>),
}

/// Answer to adding a catalog.
#[derive(ApiResponse)]
pub enum CatalogAdded {
    /// Linked.
    #[oai(status = 201)]
    Created(Json<OfferingCatalog>),
}

/// Answer to removing a catalog.
#[derive(ApiResponse)]
pub enum CatalogRemoved {
    /// Unlinked.
    #[oai(status = 204)]
    NoContent,
}

fn link_object(link: LinkRow) -> OfferingCatalog {
    OfferingCatalog {
        offering_catalog_uuid: link.uuid,
        partition: link.partition_uuid,
        partition_name: link.partition_name,
        offering: link.offering_uuid,
        offering_name: link.offering_name,
        catalog: link.catalog_uuid,
        catalog_name: link.catalog_name,
        catalog_version: link.catalog_version,
        enabled_cpu_family: link.enabled_cpu_family,
        enabled_cpu_microarchitectures: link.enabled_cpu_microarchitectures,
        package_count: link.package_count,
    }
}

fn offering_object(base_url: &str, detail: OfferingDetail) -> Offering {
    Offering {
        url: object_url(base_url, COLLECTION, detail.offering.uuid),
        uuid: detail.offering.uuid,
        name: detail.offering.name,
        offering_type: detail.offering.offering_type,
        managers: detail.managers,
        software_catalogs: detail.catalogs.into_iter().map(link_object).collect(),
        partitions: detail
            .partitions
            .into_iter()
            .map(partition_object)
            .collect(),
        qos: detail.qos.into_iter().map(qos_object).collect(),
        created: detail.offering.created,
    }
}

/// The offering endpoints.
pub struct OfferingsApi {
    /// Shared state.
    pub state: AppState,
}

impl OfferingsApi {
    /// The offering, once the caller is shown to be staff or its manager.
    async fn managed(&self, caller: &Caller, uuid: Uuid) -> Result<OfferingDetail, ApiError> {
        caller.require_user()?;
        let detail = offerings::get_offering(&self.state.db, uuid).await?;
        caller
            .require_manager(&self.state, detail.offering.id)
            .await?;
        Ok(detail)
    }
}

#[OpenApi(
    prefix_path = "/api/marketplace-provider-offerings",
    tag = "Tag::Offerings"
)]
impl OfferingsApi {
    /// List offerings
    #[oai(path = "/", method = "get", operation_id = "offerings_list")]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Case-insensitive part of the offering name.
        name: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<OfferingList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let listing = offerings::list_offerings(&self.state.db, name.0.as_deref(), page).await?;
        OfferingList::from_listing(request, &self.state, page, listing, offering_object)
    }

    /// Show an offering
    #[oai(path = "/:uuid/", method = "get", operation_id = "offerings_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Offering>> {
        caller.require_reader(&self.state)?;
        let detail = offerings::get_offering(&self.state.db, uuid.0).await?;
        Ok(Json(offering_object(&self.state.base_url(request), detail)))
    }

    /// Create an offering (staff)
    ///
    /// `managers` names the users who may change its catalog links.
    #[oai(path = "/", method = "post", operation_id = "offerings_create")]
    async fn create(
        &self,
        caller: Caller,
        request: &Request,
        body: Json<OfferingCreate>,
    ) -> ApiResult<OfferingCreated> {
        caller.require_staff()?;
        let body = body.0;
        let detail = offerings::create_offering(
            &self.state.db,
            &body.name,
            &body.offering_type,
            &body.managers,
        )
        .await?;
        Ok(OfferingCreated::Created(Json(offering_object(
            &self.state.base_url(request),
            detail,
        ))))
    }

    /// Add a software catalog to an offering (staff, managers)
    ///
    /// The catalog must exist and not be linked yet; every enabled CPU family
    /// and micro-architecture must be among the catalog's targets.
    #[oai(
        path = "/:uuid/add_software_catalog/",
        method = "post",
        operation_id = "offerings_add_software_catalog"
    )]
    async fn add_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<AddCatalog>,
    ) -> ApiResult<CatalogAdded> {
        let offering = self.managed(&caller, uuid.0).await?;
        let body = body.0;
        let cpus = EnabledCpus {
            families: body.enabled_cpu_family,
            microarchitectures: body.enabled_cpu_microarchitectures,
        };
        let link = offerings::add_link(
            &self.state.db,
            offering.offering.id,
            body.catalog,
            &cpus,
            body.partition,
        )
        .await?;
        Ok(CatalogAdded::Created(Json(link_object(link))))
    }

    /// Change the CPUs an offering's catalog enables (staff, managers)
    #[oai(
        path = "/:uuid/update_software_catalog/",
        method = "patch",
        operation_id = "offerings_update_software_catalog"
    )]
    async fn update_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<UpdateCatalog>,
    ) -> ApiResult<Json<OfferingCatalog>> {
        let offering = self.managed(&caller, uuid.0).await?;
        let body = body.0;
        let link = offerings::update_link(
            &self.state.db,
            offering.offering.id,
            body.offering_catalog_uuid,
            body.enabled_cpu_family,
            body.enabled_cpu_microarchitectures,
            body.partition,
        )
        .await?;
        Ok(Json(link_object(link)))
    }

    /// Remove a software catalog from an offering (staff, managers)
    #[oai(
        path = "/:uuid/remove_software_catalog/",
        method = "post",
        operation_id = "offerings_remove_software_catalog"
    )]
    async fn remove_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<RemoveCatalog>,
    ) -> ApiResult<CatalogRemoved> {
        let offering = self.managed(&caller, uuid.0).await?;
        offerings::remove_link(
            &self.state.db,
            offering.offering.id,
            body.0.offering_catalog_uuid,
        )
        .await?;
        Ok(CatalogRemoved::NoContent)
    }

    /// Add a SLURM partition to an offering (staff, managers)
    #[oai(
        path = "/:uuid/add_partition/",
        method = "post",
        operation_id = "offerings_add_partition"
    )]
    async fn add_partition(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<PartitionCreate>,
    ) -> ApiResult<PartitionAdded> {
        let offering = self.managed(&caller, uuid.0).await?;
        let row = partitions::add_partition(&self.state.db, offering.offering.id, &body.0.fields())
            .await?;
        Ok(PartitionAdded::Created(Json(partition_object(row))))
    }

    /// Change a partition of an offering (staff, managers)
    ///
    /// A partition of another offering is not found here.
    #[oai(
        path = "/:uuid/update_partition/",
        method = "patch",
        operation_id = "offerings_update_partition"
    )]
    async fn update_partition(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<PartitionUpdate>,
    ) -> ApiResult<Json<Partition>> {
        let offering = self.managed(&caller, uuid.0).await?;
        let partition = body.0.partition_uuid;
        let row = partitions::update_partition(
            &self.state.db,
            offering.offering.id,
            partition,
            &body.0.fields(),
        )
        .await?;
        Ok(Json(partition_object(row)))
    }

    /// Remove a partition of an offering (staff, managers)
    ///
    /// A partition that catalog links name is kept (409): remove the links
    /// first. A partition of another offering is not found here.
    #[oai(
        path = "/:uuid/remove_partition/",
        method = "post",
        operation_id = "offerings_remove_partition"
    )]
    async fn remove_partition(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<PartitionRemove>,
    ) -> ApiResult<CatalogRemoved> {
        let offering = self.managed(&caller, uuid.0).await?;
        partitions::remove_partition(&self.state.db, offering.offering.id, body.0.partition_uuid)
            .await?;
        Ok(CatalogRemoved::NoContent)
    }

    /// Add a SLURM QoS to an offering (staff, managers)
    #[oai(
        path = "/:uuid/add_qos/",
        method = "post",
        operation_id = "offerings_add_qos"
    )]
    async fn add_qos(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<QosCreate>,
    ) -> ApiResult<QosAdded> {
        let offering = self.managed(&caller, uuid.0).await?;
        let row = qos::add_qos(&self.state.db, offering.offering.id, &body.0.fields()).await?;
        Ok(QosAdded::Created(Json(qos_object(row))))
    }

    /// Change a QoS of an offering (staff, managers)
    #[oai(
        path = "/:uuid/update_qos/",
        method = "patch",
        operation_id = "offerings_update_qos"
    )]
    async fn update_qos(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<QosUpdate>,
    ) -> ApiResult<Json<Qos>> {
        let offering = self.managed(&caller, uuid.0).await?;
        let qos_uuid = body.0.qos_uuid;
        let row = qos::update_qos(
            &self.state.db,
            offering.offering.id,
            qos_uuid,
            &body.0.fields(),
        )
        .await?;
        Ok(Json(qos_object(row)))
    }

    /// Remove a QoS of an offering (staff, managers)
    ///
    /// Its partitions stop allowing it.
    #[oai(
        path = "/:uuid/remove_qos/",
        method = "post",
        operation_id = "offerings_remove_qos"
    )]
    async fn remove_qos(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<QosRemove>,
    ) -> ApiResult<CatalogRemoved> {
        let offering = self.managed(&caller, uuid.0).await?;
        qos::remove_qos(&self.state.db, offering.offering.id, body.0.qos_uuid).await?;
        Ok(CatalogRemoved::NoContent)
    }

    /// Set the QoS a partition allows (staff, managers)
    ///
    /// Replaces the partition's list in one transaction; every QoS must be
    /// this offering's, at most one the default.
    #[oai(
        path = "/:uuid/set_partition_qos/",
        method = "post",
        operation_id = "offerings_set_partition_qos"
    )]
    async fn set_partition_qos(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<PartitionQos>,
    ) -> ApiResult<Json<Partition>> {
        let offering = self.managed(&caller, uuid.0).await?;
        let body = body.0;
        let options: Vec<(Uuid, bool)> = body
            .qos_options
            .iter()
            .map(|option| (option.qos_uuid, option.is_default))
            .collect();
        qos::set_partition_qos(
            &self.state.db,
            offering.offering.id,
            body.partition_uuid,
            &options,
        )
        .await?;
        let row =
            partitions::get_partition(&self.state.db, offering.offering.id, body.partition_uuid)
                .await?;
        Ok(Json(partition_object(row)))
    }

    /// Change an offering (staff)
    ///
    /// `name` and `type`; absent fields are kept.
    #[oai(
        path = "/:uuid/",
        method = "patch",
        operation_id = "offerings_partial_update"
    )]
    async fn update(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<OfferingUpdate>,
    ) -> ApiResult<Json<Offering>> {
        caller.require_staff()?;
        let body = body.0;
        let detail = offerings::update_offering(
            &self.state.db,
            uuid.0,
            body.name.as_deref(),
            body.offering_type.as_deref(),
        )
        .await?;
        Ok(Json(offering_object(&self.state.base_url(request), detail)))
    }

    /// Delete an offering (staff)
    ///
    /// Removes its catalog links and manager roles with it.
    #[oai(
        path = "/:uuid/",
        method = "delete",
        operation_id = "offerings_destroy"
    )]
    async fn destroy(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<OfferingDeleted> {
        caller.require_staff()?;
        offerings::delete_offering(&self.state.db, uuid.0).await?;
        Ok(OfferingDeleted::NoContent)
    }

    /// Make a user a manager of an offering (staff)
    ///
    /// Managers change the offering's catalog links. A user who manages it
    /// already is a 400 naming `username`.
    #[oai(
        path = "/:uuid/add_manager/",
        method = "post",
        operation_id = "offerings_add_manager"
    )]
    async fn add_manager(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<ManagerChange>,
    ) -> ApiResult<Json<Offering>> {
        caller.require_staff()?;
        let detail = offerings::add_manager(&self.state.db, uuid.0, &body.0.username).await?;
        Ok(Json(offering_object(&self.state.base_url(request), detail)))
    }

    /// Remove a manager from an offering (staff)
    ///
    /// A user who does not manage it is a 400 naming `username`.
    #[oai(
        path = "/:uuid/remove_manager/",
        method = "post",
        operation_id = "offerings_remove_manager"
    )]
    async fn remove_manager(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<ManagerChange>,
    ) -> ApiResult<Json<Offering>> {
        caller.require_staff()?;
        let detail = offerings::remove_manager(&self.state.db, uuid.0, &body.0.username).await?;
        Ok(Json(offering_object(&self.state.base_url(request), detail)))
    }
}

/// Answer to adding a QoS.
#[derive(ApiResponse)]
pub enum QosAdded {
    /// Added.
    #[oai(status = 201)]
    Created(Json<Qos>),
}

/// Answer to adding a partition.
#[derive(ApiResponse)]
pub enum PartitionAdded {
    /// Added.
    #[oai(status = 201)]
    Created(Json<Partition>),
}

/// The listing of every offering's catalog links.
pub struct LinksApi {
    /// Shared state.
    pub state: AppState,
}

list_response!(LinkPage, LinkList, OfferingCatalog);

#[OpenApi(
    prefix_path = "/api/marketplace-offering-software-catalogs",
    tag = "Tag::Offerings"
)]
impl LinksApi {
    /// List catalog links
    ///
    /// Every offering's links to catalogs, whole-offering and per partition.
    #[oai(
        path = "/",
        method = "get",
        operation_id = "offering_software_catalogs_list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Exact offering.
        offering_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the offering name.
        offering_name: Query<Option<String>>,
        /// Exact catalog.
        catalog_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the catalog name.
        catalog_name: Query<Option<String>>,
        /// Exact partition.
        partition_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the partition name.
        partition_name: Query<Option<String>>,
        /// Links for one partition (`true`) or for the whole offering.
        has_partition: Query<Option<bool>>,
        /// Links that enable this CPU family (or every family).
        cpu_family: Query<Option<String>>,
        /// Ordering: `offering_name`, `catalog_name`, `partition_name`,
        /// `partition_priority`, each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<LinkList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = LinkFilter {
            offering_uuid: offering_uuid.0,
            offering_name: offering_name.0,
            catalog_uuid: catalog_uuid.0,
            catalog_name: catalog_name.0,
            partition_uuid: partition_uuid.0,
            partition_name: partition_name.0,
            has_partition: has_partition.0,
            cpu_family: cpu_family.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = offerings::list_links(&self.state.db, &filter, page).await?;
        LinkList::from_listing(request, &self.state, page, listing, |_, link| {
            link_object(link)
        })
    }
}
