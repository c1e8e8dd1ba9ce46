//! One installable version of a package; EESSI versions are told apart by module.

use sea_orm::entity::prelude::*;

/// A row of `software_versions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "software_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub package_id: i64,
    pub version: String,
    pub modulename: String,
    pub release_date: Option<Date>,
    pub toolchain_name: String,
    pub toolchain_version: String,
    pub toolchain_families_compatibility: Json,
    pub required_modules: Json,
    pub parent_version_id: Option<i64>,
    pub metadata: Json,
    pub fingerprint: i64,
    pub tree_fingerprint: i64,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// Versions belong to a package and own targets.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::software_package::Entity",
        from = "Column::PackageId",
        to = "super::software_package::Column::Id"
    )]
    Package,
    #[sea_orm(has_many = "super::software_target::Entity")]
    Targets,
}

impl Related<super::software_package::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Package.def()
    }
}

impl Related<super::software_target::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Targets.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
