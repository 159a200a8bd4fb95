use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{
    ActiveValue::Set,
    DatabaseConnection, QueryOrder, QuerySelect,
    entity::prelude::*,
    sea_query::{ExprTrait, Func, LikeExpr},
};

use super::on_unique_violation;
use crate::{
    accounts::{Email, NewUser, User, UserChanges, UserId, UserQuery},
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

    /// Enabled users with a verified email whose phone, without spaces, dashes, dots and
    /// parentheses, is `normalized_phone` (already normalised the same way); at most `limit`.
    pub async fn find_verified_by_phone(&self, normalized_phone: &str, limit: u64) -> Result<Vec<User>, StoreError> {
        // REPLACE is the same function on SQLite and PostgreSQL.
        let stripped = Expr::cust(
            "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, ' ', ''), '-', ''), '.', ''), '(', ''), ')', '')",
        );
        users::Entity::find()
            .filter(users::Column::EmailVerified.eq(true))
            .filter(users::Column::Disabled.eq(false))
            .filter(users::Column::Phone.is_not_null())
            .filter(stripped.eq(normalized_phone))
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
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

    /// Keyset paging by id. `q` matches a substring of the email or the name, case-insensitively;
    /// its `%` and `_` are literals, not wildcards.
    pub async fn search(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let mut select = users::Entity::find().order_by_asc(users::Column::Id).limit(query.limit);
        if let Some(after) = query.after {
            select = select.filter(users::Column::Id.gt(after.0));
        }
        if let Some(disabled) = query.disabled {
            select = select.filter(users::Column::Disabled.eq(disabled));
        }
        if let Some(q) = &query.q {
            let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
            let email = Expr::col(users::Column::EmailNormalized).like(LikeExpr::new(pattern.clone()).escape('\\'));
            // PostgreSQL's LIKE is case-sensitive; lower-casing both sides works on every backend.
            let name =
                Expr::expr(Func::lower(Expr::col(users::Column::Name))).like(LikeExpr::new(pattern).escape('\\'));
            select = select.filter(email.or(name));
        }
        select.all(&self.db).await?.into_iter().map(to_domain).collect()
    }

    /// Applies the changes; `None` when there is no such user.
    pub async fn update(
        &self,
        id: UserId,
        changes: &UserChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.0));
        for (column, value) in [
            (users::Column::Name, &changes.name),
            (users::Column::Phone, &changes.phone),
            (users::Column::Picture, &changes.picture),
            (users::Column::Locale, &changes.locale),
        ] {
            if let Some(value) = value {
                update = update.col_expr(column, Expr::value(value.clone()));
            }
        }
        if let Some(email) = &changes.email {
            update = update
                .col_expr(users::Column::Email, Expr::value(email.as_str()))
                .col_expr(users::Column::EmailNormalized, Expr::value(email.normalized()));
        }
        if let Some(verified) = changes.email_verified {
            update = update.col_expr(users::Column::EmailVerified, Expr::value(verified));
        }
        let result = update.exec(&self.db).await.map_err(on_unique_violation("email"))?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.find(id).await
    }

    /// Returns whether the user existed. Sessions, refresh tokens, consents, role and group
    /// links and second factors go with them (`ON DELETE CASCADE`).
    pub async fn delete(&self, id: UserId) -> Result<bool, StoreError> {
        Ok(users::Entity::delete_by_id(id.0).exec(&self.db).await?.rows_affected == 1)
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

/// A backslash is the escape character of every LIKE this module writes.
fn escape_like(input: &str) -> String {
    let mut escaped = String::with_capacity(input.len());
    for c in input.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
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

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(escape_like("50%_off\\now"), "50\\%\\_off\\\\now");
        assert_eq!(escape_like("ann"), "ann");
    }
}
