//! Where a version can run: a CPU target with its install path, or a build variant.

use sea_orm::entity::prelude::*;

/// A row of `software_targets`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "software_targets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub version_id: i64,
    pub target_type: String,
    pub target_name: String,
    pub cpu_family: Option<String>,
    pub cpu_microarchitecture: Option<String>,
    pub path: String,
    pub metadata: Json,
    pub fingerprint: i64,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// Targets belong to a version.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::software_version::Entity",
        from = "Column::VersionId",
        to = "super::software_version::Column::Id"
    )]
    Version,
}

impl Related<super::software_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Version.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
