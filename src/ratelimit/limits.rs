//! What is limited and how much: the scopes, their defaults (issue 8 item 1, from the seeds)
//! and `FERRID_RATE_LIMITS`, a compact override such as `login_ip=20/1m,register_ip=10/1h`.

use std::{collections::BTreeMap, fmt, time::Duration};

/// One budget: what is counted, by whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Password sign-ins (login page and `/api/auth/login`) from one IP.
    LoginIp,
    /// Password sign-ins from one IP for one email address.
    LoginIpEmail,
    /// `/api/account/register` from one IP.
    RegisterIp,
    /// Password reset requests from one IP for one email address.
    ResetRequestIpEmail,
    /// Password reset completions (token + new password) from one IP.
    ResetConfirmIp,
    /// Answers to one second-step challenge (TOTP or recovery code).
    OtpChallenge,
    /// `/token` requests of one authenticated client.
    TokenClient,
    /// `/token` requests from one IP.
    TokenIp,
    /// Dynamic client registration (`/register`, RFC 7591) from one IP.
    ClientRegistrationIp,
}

impl Scope {
    pub const ALL: [Self; 9] = [
        Self::LoginIp,
        Self::LoginIpEmail,
        Self::RegisterIp,
        Self::ResetRequestIpEmail,
        Self::ResetConfirmIp,
        Self::OtpChallenge,
        Self::TokenClient,
        Self::TokenIp,
        Self::ClientRegistrationIp,
    ];

    /// The name in `FERRID_RATE_LIMITS`, in store keys and in the `scope` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginIp => "login_ip",
            Self::LoginIpEmail => "login_ip_email",
            Self::RegisterIp => "register_ip",
            Self::ResetRequestIpEmail => "reset_request_ip_email",
            Self::ResetConfirmIp => "reset_confirm_ip",
            Self::OtpChallenge => "otp_challenge",
            Self::TokenClient => "token_client",
            Self::TokenIp => "token_ip",
            Self::ClientRegistrationIp => "client_registration_ip",
        }
    }

    fn default_limit(self) -> Limit {
        let (max, secs) = match self {
            Self::LoginIp => (20, 60),
            Self::LoginIpEmail => (5, 60),
            Self::RegisterIp => (10, 3600),
            Self::ResetRequestIpEmail => (3, 60),
            Self::ResetConfirmIp => (10, 3600),
            // A challenge lives 5 minutes: five answers for its whole life.
            Self::OtpChallenge => (5, 300),
            // Machine traffic: a backend behind one address refreshing for many users.
            Self::TokenClient => (600, 60),
            Self::TokenIp => (600, 60),
            Self::ClientRegistrationIp => (20, 3600),
        };
        Limit { max, window: Duration::from_secs(secs) }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most `max` requests per fixed window of `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

/// The limit of every scope: the defaults with the configured overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits(BTreeMap<Scope, Limit>);

impl Default for RateLimits {
    fn default() -> Self {
        Self(Scope::ALL.iter().map(|scope| (*scope, scope.default_limit())).collect())
    }
}

impl RateLimits {
    pub fn get(&self, scope: Scope) -> Limit {
        self.0.get(&scope).copied().unwrap_or_else(|| scope.default_limit())
    }

    /// Parses `scope=N/window` pairs separated by commas, over the defaults. A window is a
    /// number and a unit (`s`, `m`, `h`, `d`), or a unit alone for one of it: `5/1m` = `5/m`.
    /// Every scope keeps a limit: there is no "unlimited".
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut limits = Self::default();
        for pair in value.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (name, limit) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not scope=N/window"))?;
            let scope = Scope::ALL.into_iter().find(|scope| scope.as_str() == name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Scope::ALL.iter().map(|scope| scope.as_str()).collect();
                format!("unknown scope {name:?}; scopes are {}", names.join(", "))
            })?;
            limits.0.insert(scope, parse_limit(limit.trim()).map_err(|problem| format!("{name}: {problem}"))?);
        }
        Ok(limits)
    }
}

fn parse_limit(value: &str) -> Result<Limit, String> {
    let (max, window) = value.split_once('/').ok_or_else(|| format!("{value:?} is not N/window"))?;
    let max: u64 = max.trim().parse().ok().filter(|max| *max > 0).ok_or("N must be a positive number")?;
    let window = window.trim();
    let split = window.find(|c: char| !c.is_ascii_digit()).ok_or("the window needs a unit (s, m, h or d)")?;
    let (count, unit) = window.split_at(split);
    let count: u64 = if count.is_empty() { Ok(1) } else { count.parse().map_err(|_| "the window is too long") }?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?} (s, m, h or d)")),
    };
    let secs = count.checked_mul(unit_secs).filter(|secs| (1..=30 * 86_400).contains(secs));
    let secs = secs.ok_or("the window must be between 1 second and 30 days")?;
    Ok(Limit { max, window: Duration::from_secs(secs) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issues() {
        let limits = RateLimits::default();
        assert_eq!(limits.get(Scope::LoginIpEmail), Limit { max: 5, window: Duration::from_secs(60) });
        assert_eq!(limits.get(Scope::LoginIp), Limit { max: 20, window: Duration::from_secs(60) });
        assert_eq!(limits.get(Scope::RegisterIp), Limit { max: 10, window: Duration::from_secs(3600) });
        assert_eq!(limits.get(Scope::ResetRequestIpEmail), Limit { max: 3, window: Duration::from_secs(60) });
        assert_eq!(limits.get(Scope::ResetConfirmIp), Limit { max: 10, window: Duration::from_secs(3600) });
        assert_eq!(limits.get(Scope::OtpChallenge).max, 5);
    }

    #[test]
    fn overrides_replace_only_their_scopes() {
        let limits = RateLimits::parse(" login_ip=3/10s, register_ip=2/h ,token_client=1000/1d").unwrap();
        assert_eq!(limits.get(Scope::LoginIp), Limit { max: 3, window: Duration::from_secs(10) });
        assert_eq!(limits.get(Scope::RegisterIp), Limit { max: 2, window: Duration::from_secs(3600) });
        assert_eq!(limits.get(Scope::TokenClient), Limit { max: 1000, window: Duration::from_secs(86_400) });
        assert_eq!(limits.get(Scope::LoginIpEmail), Scope::LoginIpEmail.default_limit());
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::default());
    }

    #[test]
    fn malformed_overrides_name_the_problem() {
        for (value, problem) in [
            ("login=5/1m", "unknown scope"),
            ("login_ip=0/1m", "positive"),
            ("login_ip=5", "N/window"),
            ("login_ip=5/10", "unit"),
            ("login_ip=5/1w", "unknown unit"),
            ("login_ip=5/0s", "between"),
            ("login_ip", "scope=N/window"),
        ] {
            let error = RateLimits::parse(value).unwrap_err();
            assert!(error.contains(problem), "{value}: {error}");
        }
    }
}
