//! How long each credential lives (DESIGN §6): global defaults from the configuration, each of
//! which a client may override.

use chrono::Duration;

/// Resolved lifetimes for one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_token: Duration,
    pub id_token: Duration,
    /// A refresh token unused this long expires (RFC 9700 §4.14.2).
    pub refresh_idle: Duration,
    /// No refresh token of a family outlives this, counted from the original grant.
    pub refresh_absolute: Duration,
    /// RFC 6749 §4.1.2: short; at most 10 minutes.
    pub code: Duration,
}

impl Default for Lifetimes {
    /// Access 15 min, ID token 1 h, refresh 7 days idle / 30 days absolute, code 60 s.
    fn default() -> Self {
        Self {
            access_token: Duration::minutes(15),
            id_token: Duration::hours(1),
            refresh_idle: Duration::days(7),
            refresh_absolute: Duration::days(30),
            code: Duration::seconds(60),
        }
    }
}

/// The longest code lifetime RFC 6749 §4.1.2 recommends.
pub const MAX_CODE_LIFETIME_SECS: u32 = 600;

/// A client's own lifetimes, in seconds; `None` follows the global default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifetimeOverrides {
    pub access_token: Option<u32>,
    pub id_token: Option<u32>,
    pub refresh_idle: Option<u32>,
    pub refresh_absolute: Option<u32>,
    pub code: Option<u32>,
}

impl LifetimeOverrides {
    /// Each set value with its name, for validation and display.
    pub fn named(&self) -> [(&'static str, Option<u32>); 5] {
        [
            ("access_token_lifetime", self.access_token),
            ("id_token_lifetime", self.id_token),
            ("refresh_token_idle_lifetime", self.refresh_idle),
            ("refresh_token_lifetime", self.refresh_absolute),
            ("code_lifetime", self.code),
        ]
    }
}

impl Lifetimes {
    /// These defaults with `overrides` applied.
    pub fn for_client(&self, overrides: &LifetimeOverrides) -> Self {
        let or = |value: Option<u32>, default: Duration| value.map_or(default, |secs| Duration::seconds(secs.into()));
        Self {
            access_token: or(overrides.access_token, self.access_token),
            id_token: or(overrides.id_token, self.id_token),
            refresh_idle: or(overrides.refresh_idle, self.refresh_idle),
            refresh_absolute: or(overrides.refresh_absolute, self.refresh_absolute),
            code: or(overrides.code, self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_overrides_only_what_it_sets() {
        let global = Lifetimes::default();
        let overrides = LifetimeOverrides { access_token: Some(60), code: Some(30), ..Default::default() };
        let resolved = global.for_client(&overrides);
        assert_eq!(resolved.access_token, Duration::seconds(60));
        assert_eq!(resolved.code, Duration::seconds(30));
        assert_eq!(resolved.refresh_idle, Duration::days(7));
        assert_eq!(resolved.refresh_absolute, Duration::days(30));
        assert_eq!(global.for_client(&LifetimeOverrides::default()), global);
    }
}
