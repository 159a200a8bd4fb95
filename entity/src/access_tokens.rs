use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: String,
    #[sea_orm(unique)]
    pub jti: String,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audience: Json,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub jkt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
