//! Which ferrid account an upstream identity signs in to (issue 9 item 3):
//!
//! - an identity already linked signs in to its account;
//! - a first sign-in whose address no account has creates one, without a password, with
//!   `email_verified` as the upstream says;
//! - a first sign-in whose address an account has links to it only when the provider is
//!   configured to link by email, the upstream says `email_verified: true`, and the account's own
//!   address is verified (an unverified account may have been registered by someone else in
//!   advance — pre-account takeover). Otherwise the owner signs in with their password and links
//!   the identity from their account.

use uuid::Uuid;

use super::{FederatedIdentity, Federation, FederationError, VerifiedIdentity};
use crate::{
    accounts::{AccountError, Accounts, Email, NewUser, User, UserId},
    store::StoreError,
};

/// How a sign-in found its account, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The identity was linked before.
    Linked,
    /// Linked now to the account with the same verified address.
    LinkedByEmail,
    /// A new account.
    Created,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::LinkedByEmail => "linked_by_email",
            Self::Created => "created",
        }
    }
}

fn usable(user: User) -> Result<User, FederationError> {
    if user.disabled { Err(FederationError::AccountDisabled) } else { Ok(user) }
}

impl Federation {
    fn new_identity(&self, identity: &VerifiedIdentity, user: UserId) -> FederatedIdentity {
        let now = self.now();
        FederatedIdentity {
            id: Uuid::now_v7(),
            provider: identity.provider.clone(),
            subject: identity.subject.clone(),
            user_id: user,
            email: identity.email.clone(),
            created_at: now,
            last_used_at: now,
        }
    }

    /// The account `identity` signs in to, linked or created by the rules above.
    #[tracing::instrument(skip_all, fields(provider = %identity.provider))]
    pub async fn resolve(
        &self,
        accounts: &Accounts,
        identity: &VerifiedIdentity,
    ) -> Result<(User, Resolution), FederationError> {
        if let Some(linked) = self.identities.find(&identity.provider, &identity.subject).await? {
            let user = match accounts.find(linked.user_id).await {
                Ok(user) => usable(user)?,
                Err(AccountError::NotFound) => return Err(FederationError::InvalidState),
                Err(error) => return Err(error.into()),
            };
            self.identities.touch(linked.id, identity.email.as_deref(), self.now()).await?;
            return Ok((user, Resolution::Linked));
        }
        let email =
            identity.email.as_deref().and_then(|e| Email::parse(e).ok()).ok_or(FederationError::MissingEmail)?;
        let upstream = self.upstream(&identity.provider)?;
        match accounts.find_by_email(&email).await {
            Ok(existing) => {
                if !(upstream.link_by_email && identity.email_verified && existing.email_verified) {
                    return Err(FederationError::LinkRequired { upstream_verified: identity.email_verified });
                }
                let user = usable(existing)?;
                self.insert_identity(identity, user.id).await?;
                Ok((user, Resolution::LinkedByEmail))
            }
            Err(AccountError::NotFound) => {
                // A name past ferrid's limit is left out rather than refusing the sign-in.
                let new = NewUser::new(email.clone(), identity.name.as_deref())
                    .or_else(|_| NewUser::new(email, None))
                    .map_err(|e| FederationError::Internal(e.to_string()))?;
                let user = match accounts.create_user_verified(new, None, identity.email_verified).await {
                    Ok(user) => user,
                    // Someone registered the address a moment ago: the same answer as above.
                    Err(AccountError::EmailTaken) => {
                        return Err(FederationError::LinkRequired { upstream_verified: identity.email_verified });
                    }
                    Err(error) => return Err(error.into()),
                };
                // Nothing half-created: without its identity the new account is removed again.
                if let Err(error) = self.insert_identity(identity, user.id).await {
                    if let Err(cleanup) = accounts.delete_user(user.id).await {
                        tracing::error!(%cleanup, user = %user.id, "could not remove the account of a failed federated sign-in");
                    }
                    return Err(error);
                }
                Ok((user, Resolution::Created))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn insert_identity(&self, identity: &VerifiedIdentity, user: UserId) -> Result<(), FederationError> {
        match self.identities.insert(&self.new_identity(identity, user)).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(FederationError::IdentityInUse),
            Err(error) => Err(error.into()),
        }
    }

    /// Links `identity` to the signed-in `user` (from their account, after signing in with their
    /// password). Linking it again to the same account is a no-op.
    pub async fn link(&self, user: &User, identity: &VerifiedIdentity) -> Result<(), FederationError> {
        match self.identities.find(&identity.provider, &identity.subject).await? {
            Some(linked) if linked.user_id == user.id => Ok(()),
            Some(_) => Err(FederationError::IdentityInUse),
            None => self.insert_identity(identity, user.id).await,
        }
    }

    /// Removes one of `user`'s identities, unless it is their last way to sign in (no password
    /// and no other identity).
    pub async fn unlink(&self, user: &User, id: Uuid) -> Result<FederatedIdentity, FederationError> {
        let identities = self.identities.list_for_user(user.id).await?;
        let Some(identity) = identities.iter().find(|i| i.id == id).cloned() else {
            return Err(FederationError::NotLinked);
        };
        if !user.has_password && identities.len() <= 1 {
            return Err(FederationError::LastSignInMethod);
        }
        if !self.identities.delete(user.id, id).await? {
            return Err(FederationError::NotLinked);
        }
        Ok(identity)
    }
}
