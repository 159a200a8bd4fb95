//! Users' second factors (TOTP secrets and recovery codes). Enrolment and verification come
//! with TOTP sign-in; administrators already need to see whether a user has any and to remove
//! them all when a user loses their device.

use entity::mfa_factors;
use sea_orm::{DatabaseConnection, PaginatorTrait, entity::prelude::*};

use crate::{accounts::UserId, store::StoreError};

#[derive(Clone, Debug)]
pub struct MfaFactorRepository {
    db: DatabaseConnection,
}

impl MfaFactorRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn count_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(mfa_factors::Entity::find().filter(mfa_factors::Column::UserId.eq(user.0)).count(&self.db).await?)
    }

    /// Returns how many factors were removed.
    pub async fn delete_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        let result =
            mfa_factors::Entity::delete_many().filter(mfa_factors::Column::UserId.eq(user.0)).exec(&self.db).await?;
        Ok(result.rows_affected)
    }
}
