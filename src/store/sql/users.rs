use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect, entity::prelude::*};

use super::on_unique_violation;
use crate::{
    accounts::{Email, NewUser, User, UserId},
    store::StoreError,
};

#[derive(Clone, Debug)]
pub struct UserRepository {
    db: DatabaseConnection,
}

impl UserRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        new: &NewUser,
        password_hash: Option<&str>,
        email_verified: bool,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let model = users::ActiveModel {
            id: Set(UserId::generate().0),
            email: Set(new.email.as_str().to_owned()),
            email_normalized: Set(new.email.normalized().to_owned()),
            email_verified: Set(email_verified),
            password_hash: Set(password_hash.map(str::to_owned)),
            name: Set(new.name.clone()),
            phone: Set(None),
            picture: Set(None),
            locale: Set(None),
            disabled: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(on_unique_violation("email"))?;
        to_domain(model)
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::EmailNormalized.eq(email.normalized()))
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// The user with this email and their stored password hash (for sign-in only).
    pub async fn find_credentials(&self, email: &Email) -> Result<Option<(User, Option<String>)>, StoreError> {
        let Some(model) =
            users::Entity::find().filter(users::Column::EmailNormalized.eq(email.normalized())).one(&self.db).await?
        else {
            return Ok(None);
        };
        let hash = model.password_hash.clone();
        Ok(Some((to_domain(model)?, hash)))
    }

    pub async fn find(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find_by_id(id.0).one(&self.db).await?.map(to_domain).transpose()
    }

    pub async fn list(&self, offset: u64, limit: u64) -> Result<Vec<User>, StoreError> {
        users::Entity::find()
            .order_by_asc(users::Column::EmailNormalized)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// Returns whether a user was updated.
    pub async fn set_disabled(&self, id: UserId, disabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.update_column(id, users::Column::Disabled, disabled.into(), now).await
    }

    /// Returns whether a user was updated.
    pub async fn set_password_hash(&self, id: UserId, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.update_column(id, users::Column::PasswordHash, hash.into(), now).await
    }

    async fn update_column(
        &self,
        id: UserId,
        column: users::Column,
        value: sea_orm::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = users::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.0))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

fn to_domain(model: users::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(model.id),
        email: Email::parse(&model.email).map_err(|_| StoreError::Malformed("user email"))?,
        email_verified: model.email_verified,
        name: model.name,
        phone: model.phone,
        picture: model.picture,
        locale: model.locale,
        disabled: model.disabled,
        has_password: model.password_hash.is_some(),
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}
