//! A marketplace offering (a cluster sold through the marketplace).

use sea_orm::entity::prelude::*;

/// A row of `offerings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "offerings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    #[sea_orm(column_name = "type")]
    pub offering_type: String,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// Offerings link to catalogs.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::offering_software_catalog::Entity")]
    CatalogLinks,
}

impl ActiveModelBehavior for ActiveModel {}
