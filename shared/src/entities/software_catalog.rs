//! A catalog: one named, versioned snapshot of an external source (`EESSI` 2023.06).

use sea_orm::entity::prelude::*;

/// A row of `software_catalogs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "software_catalogs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub version: String,
    pub catalog_type: String,
    pub source_url: String,
    pub description: String,
    pub metadata: Json,
    /// Hash of the source documents last loaded; NULL after any other change.
    pub source_fingerprint: Option<i64>,
    /// Row counts and skipped entries of the last load.
    pub load_summary: Json,
    pub created: DateTimeWithTimeZone,
    pub modified: DateTimeWithTimeZone,
}

/// Catalogs own packages and offering links.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::software_package::Entity")]
    Packages,
    #[sea_orm(has_many = "super::offering_software_catalog::Entity")]
    OfferingLinks,
}

impl Related<super::software_package::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Packages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
