//! Suspicious refreshes (issue 8 item 6): a refresh token used from another network or user
//! agent than the family's previous use may have been stolen. Each refresh token row keeps the
//! address and user agent of the request that obtained it, so the token being consumed tells
//! where the family was last used; the comparison is coarse on purpose — the network (IPv4 /24,
//! IPv6 /48) and the user agent without version numbers — so that DHCP renewals and browser
//! updates do not raise alarms.
//!
//! A change is always written to the audit log; the client's [`RefreshOriginPolicy`] then
//! decides: `allow` goes on, `notify` mails the user, `reauthenticate` refuses the refresh and
//! revokes the family, so the user must sign in again.

use std::net::IpAddr;

use serde_json::json;

use super::{
    client::{Client, RefreshOriginPolicy},
    error::OAuthError,
    refresh_token::RotatedRefreshToken,
    revocation::revoke_family,
    session::RequestOrigin,
};
use crate::{
    accounts::User,
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    mail::{Mail, NewOriginNotice, issuer_link, mailbox},
};

/// What differs between two uses of a family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OriginChange {
    pub network: bool,
    pub user_agent: bool,
}

impl OriginChange {
    pub fn any(self) -> bool {
        self.network || self.user_agent
    }
}

/// The network an address belongs to for this purpose: its IPv4 /24 or IPv6 /48, written as a
/// CIDR prefix. An IPv4-mapped IPv6 address counts as IPv4. `None` for an unparsable address.
pub fn network_of(ip: &str) -> Option<String> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Some(match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    })
}

/// A user agent without its version numbers: each `product/version` token keeps its product,
/// comments stay (they name the platform). `Firefox/120.0` and `Firefox/121.0` are one device.
pub fn user_agent_fingerprint(user_agent: &str) -> String {
    user_agent
        .split_whitespace()
        .map(|token| if token.starts_with('(') { token } else { token.split('/').next().unwrap_or(token) })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares the family's previous use with this one. Only what is known on both sides counts:
/// a missing address or user agent is no evidence of a change.
pub fn compare(previous: &RequestOrigin, current: &RequestOrigin) -> OriginChange {
    let differs = |a: Option<String>, b: Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
    OriginChange {
        network: differs(previous.ip.as_deref().and_then(network_of), current.ip.as_deref().and_then(network_of)),
        user_agent: differs(
            previous.user_agent.as_deref().map(user_agent_fingerprint),
            current.user_agent.as_deref().map(user_agent_fingerprint),
        ),
    }
}

/// Applies `client`'s policy to a refresh that has just rotated: records a change of network or
/// user agent, and mails the user or refuses the refresh (revoking the family) as the policy
/// says. The refused case answers `invalid_grant` (RFC 6749 §5.2): the grant is gone.
pub async fn apply_policy(
    state: &AppState,
    client: &Client,
    rotated: &RotatedRefreshToken,
    origin: &RequestOrigin,
) -> Result<(), OAuthError> {
    let change = compare(&rotated.previous_origin, origin);
    if !change.any() {
        return Ok(());
    }
    let policy = client.metadata.refresh_origin_policy;
    let user = rotated.record.grant.user_id;
    let actor = Actor { user: Some(user.to_string()), client_id: Some(client.id.to_string()), origin: origin.clone() };
    let event = AuditEvent::new(kinds::TOKEN_REFRESH_NEW_ORIGIN, &actor)
        .user(user)
        .client(client.id.as_str())
        .target(format!("refresh_family:{}", rotated.family_id))
        .details(json!({
            "policy": policy.as_str(),
            "network_changed": change.network,
            "user_agent_changed": change.user_agent,
        }));
    tracing::info!(client_id = %client.id, family_id = %rotated.family_id, policy = policy.as_str(),
        network_changed = change.network, user_agent_changed = change.user_agent,
        "refresh from a new network or user agent");
    match policy {
        RefreshOriginPolicy::Allow => {
            state.audit.record(event).await;
            Ok(())
        }
        RefreshOriginPolicy::Notify => {
            state.audit.record(event).await;
            notify(state, client, user, origin).await;
            Ok(())
        }
        RefreshOriginPolicy::Reauthenticate => {
            let now = state.clock.now();
            let (store, live_for) = (state.short_lived.as_ref(), state.longest_access_token());
            revoke_family(&state.refresh_tokens, store, &rotated.family_id, now, live_for).await?;
            state.audit.record(event.failed()).await;
            Err(OAuthError::InvalidGrant("the refresh came from a new network or device: sign in again".into()))
        }
    }
}

/// Mails the user about the refresh. The refresh itself has succeeded, so a failure to queue
/// the mail is logged rather than reported.
async fn notify(state: &AppState, client: &Client, user: crate::accounts::UserId, origin: &RequestOrigin) {
    let queued = async {
        let user: User = state.accounts.find(user).await?;
        let when = state.clock.now().format("%Y-%m-%d %H:%M UTC").to_string();
        let network = origin.ip.as_deref().and_then(network_of).unwrap_or_else(|| "unknown".to_owned());
        let device = origin.user_agent.as_deref().map(user_agent_fingerprint).unwrap_or_else(|| "unknown".to_owned());
        let notice = NewOriginNotice { client: &client.metadata.name, when: &when, network: &network, device: &device };
        let link = issuer_link(&state.config.issuer, "/password/forgot", None)?;
        let mail = Mail::new_refresh_origin(mailbox(user.name.as_deref(), &user.email)?, &notice, &link)?;
        state.outbox.enqueue(mail).await?;
        Ok::<(), anyhow::Error>(())
    };
    if let Err(error) = queued.await {
        tracing::error!(%error, client_id = %client.id, "could not queue the new-origin notice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(ip: Option<&str>, user_agent: Option<&str>) -> RequestOrigin {
        RequestOrigin { ip: ip.map(str::to_owned), user_agent: user_agent.map(str::to_owned) }
    }

    #[test]
    fn networks_are_ipv4_24_and_ipv6_48() {
        assert_eq!(network_of("203.0.113.7").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(network_of("::ffff:203.0.113.7").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(network_of("2001:db8:1234:5678::1").as_deref(), Some("2001:db8:1234::/48"));
        assert_eq!(network_of("not an address"), None);
    }

    #[test]
    fn user_agents_lose_their_versions_only() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        let updated = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(user_agent_fingerprint(firefox), user_agent_fingerprint(updated));
        assert_ne!(user_agent_fingerprint(firefox), user_agent_fingerprint("curl/8.5.0"));
    }

    #[test]
    fn only_known_differences_count() {
        let home = origin(Some("203.0.113.7"), Some("App/1.0"));
        assert!(!compare(&home, &origin(Some("203.0.113.99"), Some("App/1.1"))).any(), "same /24, same product");
        assert_eq!(
            compare(&home, &origin(Some("198.51.100.7"), Some("App/1.0"))),
            OriginChange { network: true, user_agent: false }
        );
        assert_eq!(
            compare(&home, &origin(Some("203.0.113.7"), Some("Other/1.0"))),
            OriginChange { network: false, user_agent: true }
        );
        assert!(!compare(&origin(None, None), &home).any(), "nothing known before");
        assert!(!compare(&home, &origin(None, None)).any(), "nothing known now");
    }
}
