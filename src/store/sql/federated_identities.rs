//! Users' identities at upstream OpenID Connect providers (migration 15).

use chrono::{DateTime, Utc};
use entity::federated_identities;
use sea_orm::{ActiveValue::Set, DatabaseConnection, PaginatorTrait, QueryOrder, entity::prelude::*, sea_query::Expr};

use super::on_unique_violation;
use crate::{accounts::UserId, federation::FederatedIdentity, store::StoreError};

#[derive(Clone, Debug)]
pub struct FederatedIdentityRepository {
    db: DatabaseConnection,
}

impl FederatedIdentityRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The identity of `subject` at `provider`, if linked.
    pub async fn find(&self, provider: &str, subject: &str) -> Result<Option<FederatedIdentity>, StoreError> {
        Ok(federated_identities::Entity::find()
            .filter(federated_identities::Column::Provider.eq(provider))
            .filter(federated_identities::Column::Subject.eq(subject))
            .one(&self.db)
            .await?
            .map(to_domain))
    }

    /// Links a new identity; a conflict when the subject is already linked (a concurrent first
    /// sign-in won).
    pub async fn insert(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        federated_identities::ActiveModel {
            id: Set(identity.id),
            provider: Set(identity.provider.clone()),
            subject: Set(identity.subject.clone()),
            user_id: Set(identity.user_id.0),
            email: Set(identity.email.clone()),
            created_at: Set(identity.created_at),
            last_used_at: Set(identity.last_used_at),
        }
        .insert(&self.db)
        .await
        .map_err(on_unique_violation("federated identity"))?;
        Ok(())
    }

    /// Records a sign-in with the identity and the address the upstream reported this time.
    pub async fn touch(&self, id: Uuid, email: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
        federated_identities::Entity::update_many()
            .col_expr(federated_identities::Column::LastUsedAt, Expr::value(now))
            .col_expr(federated_identities::Column::Email, Expr::value(email.map(str::to_owned)))
            .filter(federated_identities::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The user's identities, oldest first.
    pub async fn list_for_user(&self, user: UserId) -> Result<Vec<FederatedIdentity>, StoreError> {
        Ok(federated_identities::Entity::find()
            .filter(federated_identities::Column::UserId.eq(user.0))
            .order_by_asc(federated_identities::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    pub async fn count_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(federated_identities::Entity::find()
            .filter(federated_identities::Column::UserId.eq(user.0))
            .count(&self.db)
            .await?)
    }

    /// Removes one of the user's identities; whether it existed.
    pub async fn delete(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let result = federated_identities::Entity::delete_many()
            .filter(federated_identities::Column::Id.eq(id))
            .filter(federated_identities::Column::UserId.eq(user.0))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

fn to_domain(model: federated_identities::Model) -> FederatedIdentity {
    FederatedIdentity {
        id: model.id,
        provider: model.provider,
        subject: model.subject,
        user_id: UserId(model.user_id),
        email: model.email,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    }
}
