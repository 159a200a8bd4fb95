use chrono::{DateTime, Utc};
use entity::consents;
use sea_orm::{ActiveValue::Set, DatabaseConnection, entity::prelude::*, sea_query::OnConflict};

use crate::{
    accounts::UserId,
    oauth::{ClientId, scope::Scope},
    store::StoreError,
};

#[derive(Clone, Debug)]
pub struct ConsentRepository {
    db: DatabaseConnection,
}

impl ConsentRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn granted(&self, user: UserId, client: &ClientId) -> Result<Option<Scope>, StoreError> {
        let Some(model) = consents::Entity::find_by_id((user.0, client.as_str().to_owned())).one(&self.db).await?
        else {
            return Ok(None);
        };
        Scope::parse(&model.scope).map(Some).map_err(|_| StoreError::Malformed("consent scope"))
    }

    /// Records `scope` as granted (replacing what was granted before).
    pub async fn grant(
        &self,
        user: UserId,
        client: &ClientId,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let model = consents::ActiveModel {
            user_id: Set(user.0),
            client_id: Set(client.as_str().to_owned()),
            scope: Set(scope.to_string()),
            granted_at: Set(now),
        };
        consents::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([consents::Column::UserId, consents::Column::ClientId])
                    .update_columns([consents::Column::Scope, consents::Column::GrantedAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
