//! One mail: its kind, recipient and both rendered bodies. Built only through the constructors
//! below, which render the kind's templates.

use std::fmt;

use lettre::message::Mailbox;
use url::Url;

use super::{MailError, templates};

/// What a mail is for; also names its templates and is stored with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    RegistrationAttempt,
    PasswordReset,
    PasswordChanged,
    EmailHint,
    /// A refresh token was used from a new network or user agent (issue 8 item 6).
    NewRefreshOrigin,
}

impl MailKind {
    pub const ALL: [Self; 6] = [
        Self::VerifyEmail,
        Self::RegistrationAttempt,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::EmailHint,
        Self::NewRefreshOrigin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::RegistrationAttempt => "registration_attempt",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailHint => "email_hint",
            Self::NewRefreshOrigin => "new_refresh_origin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// A rendered mail. `Debug` shows the kind and a masked address only: bodies carry codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub to: Mailbox,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail").field("kind", &self.kind).field("to", &self.masked_recipient()).finish_non_exhaustive()
    }
}

impl Mail {
    /// The recipient as logs show it.
    pub fn masked_recipient(&self) -> String {
        mask_address(self.to.email.as_ref())
    }

    /// The 6-digit code and the signed link that verify `to`'s address; both expire together.
    pub fn verify_email(to: Mailbox, code: &str, link: &Url, valid_minutes: u32) -> Result<Self, MailError> {
        let name = to.name.clone();
        templates::render(
            MailKind::VerifyEmail,
            to,
            minijinja::context! { name, code, link => link.as_str(), valid_minutes },
        )
    }

    /// Sent instead of a verification mail when someone registers with an address that already
    /// has an account, so the registration answer reveals nothing.
    pub fn registration_attempt(to: Mailbox, sign_in_link: &Url, reset_link: &Url) -> Result<Self, MailError> {
        let name = to.name.clone();
        templates::render(
            MailKind::RegistrationAttempt,
            to,
            minijinja::context! { name, sign_in_link => sign_in_link.as_str(), reset_link => reset_link.as_str() },
        )
    }

    pub fn password_reset(to: Mailbox, link: &Url, valid_minutes: u32) -> Result<Self, MailError> {
        let name = to.name.clone();
        templates::render(
            MailKind::PasswordReset,
            to,
            minijinja::context! { name, link => link.as_str(), valid_minutes },
        )
    }

    /// The notice after a password change, with a way back in if it was not the owner.
    pub fn password_changed(to: Mailbox, reset_link: &Url) -> Result<Self, MailError> {
        let name = to.name.clone();
        templates::render(
            MailKind::PasswordChanged,
            to,
            minijinja::context! { name, reset_link => reset_link.as_str() },
        )
    }

    /// The answer to "which address does my account use?", sent to that address only, so the
    /// one asking learns nothing unless they can read its mail.
    pub fn email_hint(to: Mailbox, reset_link: &Url) -> Result<Self, MailError> {
        let name = to.name.clone();
        let email = to.email.to_string();
        templates::render(
            MailKind::EmailHint,
            to,
            minijinja::context! { name, email, reset_link => reset_link.as_str() },
        )
    }
}

/// What the user is told about a refresh from a new network or user agent: nothing secret,
/// only what lets them recognise it.
pub struct NewOriginNotice<'a> {
    pub client: &'a str,
    pub when: &'a str,
    pub network: &'a str,
    pub device: &'a str,
}

impl Mail {
    /// The notice that an application renewed its access from a new network or device, with a
    /// way to cut it off if it was not the owner.
    pub fn new_refresh_origin(to: Mailbox, notice: &NewOriginNotice<'_>, reset_link: &Url) -> Result<Self, MailError> {
        let name = to.name.clone();
        templates::render(
            MailKind::NewRefreshOrigin,
            to,
            minijinja::context! {
                name,
                client => notice.client,
                when => notice.when,
                network => notice.network,
                device => notice.device,
                reset_link => reset_link.as_str(),
            },
        )
    }
}

/// A mail's recipient: `email`, by the user's name when known.
pub fn mailbox(name: Option<&str>, email: &crate::accounts::Email) -> Result<Mailbox, MailError> {
    let address = email.as_str().parse().map_err(|_| MailError::InvalidAddress)?;
    Ok(Mailbox::new(name.map(str::to_owned), address))
}

/// `<issuer><path>`, with `?token=<token>` when given: the links mails carry.
pub fn issuer_link(issuer: &crate::config::Issuer, path: &str, token: Option<&str>) -> Result<Url, MailError> {
    let mut link = Url::parse(&format!("{}{path}", issuer.as_str())).map_err(|e| MailError::Build(e.to_string()))?;
    if let Some(token) = token {
        link.query_pairs_mut().append_pair("token", token);
    }
    Ok(link)
}

/// `alice@example.com` → `a***@example.com`: enough to tell mails apart in a log, not to harvest
/// addresses from it.
pub fn mask_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask_address("alice@example.com"), "a***@example.com");
        assert_eq!(mask_address("a@example.com"), "a***@example.com");
        assert_eq!(mask_address("élodie@exämple.fr"), "é***@exämple.fr");
        assert_eq!(mask_address("not an address"), "***");
        assert_eq!(mask_address("@example.com"), "***@example.com");
    }

    #[test]
    fn debug_hides_the_bodies() {
        let to: Mailbox = "Ann <ann@example.com>".parse().unwrap();
        let link = Url::parse("https://id.example.com/verify?token=secret-link").unwrap();
        let mail = Mail::verify_email(to, "123456", &link, 10).unwrap();
        let printed = format!("{mail:?}");
        assert!(!printed.contains("123456") && !printed.contains("secret-link"), "{printed}");
        assert!(printed.contains("a***@example.com"));
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::parse("newsletter"), None);
    }
}
