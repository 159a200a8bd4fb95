use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub client_type: String,
    pub secret_digest: Option<String>,
    pub redirect_uris: Json,
    pub post_logout_redirect_uris: Json,
    pub grant_types: Json,
    pub response_types: Json,
    pub token_endpoint_auth_method: String,
    pub allowed_scopes: Json,
    pub jwks: Option<Json>,
    pub jwks_uri: Option<String>,
    pub require_pkce: bool,
    pub id_token_signed_response_alg: String,
    pub id_token_encrypted_response_alg: Option<String>,
    pub id_token_encrypted_response_enc: Option<String>,
    pub userinfo_signed_response_alg: Option<String>,
    pub access_token_format: String,
    pub access_token_signed_response_alg: String,
    pub access_token_lifetime_secs: Option<i32>,
    pub id_token_lifetime_secs: Option<i32>,
    pub refresh_token_lifetime_secs: Option<i32>,
    pub first_party: bool,
    pub userinfo_encrypted_response_alg: Option<String>,
    pub userinfo_encrypted_response_enc: Option<String>,
    pub access_token_encrypted_response_alg: Option<String>,
    pub access_token_encrypted_response_enc: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub code_lifetime_secs: Option<i32>,
    pub refresh_token_idle_secs: Option<i32>,
    pub refresh_token_reuse_grace_secs: i32,
    pub registration_token_digest: Option<String>,
    pub dpop_bound_access_tokens: bool,
    pub refresh_origin_policy: String,
    pub id_token_on_refresh: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
