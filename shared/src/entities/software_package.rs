//! A package within a catalog; extensions are packages too, marked as such.

use sea_orm::entity::prelude::*;

/// A row of `software_packages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "software_packages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub catalog_id: i64,
    pub name: String,
    pub is_extension: bool,
    pub description: String,
    pub homepage: String,
    pub categories: Json,
    pub licenses: Json,
    pub maintainers: Json,
    pub parent_software_id: Option<i64>,
    pub metadata: Json,
    pub fingerprint: i64,
    pub tree_fingerprint: i64,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// Packages belong to a catalog and own versions.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::software_catalog::Entity",
        from = "Column::CatalogId",
        to = "super::software_catalog::Column::Id"
    )]
    Catalog,
    #[sea_orm(has_many = "super::software_version::Entity")]
    Versions,
}

impl Related<super::software_catalog::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Catalog.def()
    }
}

impl Related<super::software_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Versions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
