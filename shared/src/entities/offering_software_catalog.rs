//! Which catalog an offering provides, and for which CPU families and micro-architectures.

use sea_orm::entity::prelude::*;

/// A row of `offering_software_catalogs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "offering_software_catalogs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub offering_id: i64,
    pub catalog_id: i64,
    pub enabled_cpu_family: Json,
    pub enabled_cpu_microarchitectures: Json,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// A link joins one offering and one catalog.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::offering::Entity",
        from = "Column::OfferingId",
        to = "super::offering::Column::Id"
    )]
    Offering,
    #[sea_orm(
        belongs_to = "super::software_catalog::Entity",
        from = "Column::CatalogId",
        to = "super::software_catalog::Column::Id"
    )]
    Catalog,
}

impl Related<super::offering::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Offering.def()
    }
}

impl Related<super::software_catalog::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Catalog.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
