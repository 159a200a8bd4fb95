//! The profile fields a user edits themselves (`PATCH /api/users/me`), checked before they reach
//! the account: the stored size limits, a picture that is an absolute https URL (http only on
//! loopback, for development), a BCP 47-shaped locale, and a phone number that
//! [`normalize_phone`] accepts (the email hint looks accounts up by it).

use url::Url;

use super::{ProfileError, ProfileField, UserChanges, normalize_phone};

/// A user's own edit: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct ProfileEdit {
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub picture: Option<Option<String>>,
    pub locale: Option<Option<String>>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileEditError {
    #[error(transparent)]
    TooLong(#[from] ProfileError),
    #[error("picture must be an absolute https URL")]
    Picture,
    #[error("locale must be a BCP 47 language tag such as en or pt-BR")]
    Locale,
    #[error("phone must be a phone number: digits, optionally a leading +, spaces, dashes, dots or parentheses")]
    Phone,
}

impl ProfileEdit {
    /// The edit as account changes, or the first field that is not acceptable.
    pub fn into_changes(self) -> Result<UserChanges, ProfileEditError> {
        let mut changes = UserChanges::default();
        for (field, value) in [
            (ProfileField::Name, self.name),
            (ProfileField::Phone, self.phone),
            (ProfileField::Picture, self.picture),
            (ProfileField::Locale, self.locale),
        ] {
            let Some(value) = value else { continue };
            changes.set(field, value.as_deref())?;
        }
        let set = |value: &Option<Option<String>>| value.clone().flatten();
        if set(&changes.picture).is_some_and(|picture| !is_picture_url(&picture)) {
            return Err(ProfileEditError::Picture);
        }
        if set(&changes.locale).is_some_and(|locale| !is_language_tag(&locale)) {
            return Err(ProfileEditError::Locale);
        }
        if set(&changes.phone).is_some_and(|phone| normalize_phone(&phone).is_none()) {
            return Err(ProfileEditError::Phone);
        }
        Ok(changes)
    }
}

/// An absolute https URL with a host; plain http only for loopback hosts.
fn is_picture_url(value: &str) -> bool {
    let Ok(url) = Url::parse(value) else { return false };
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// The shape of a BCP 47 tag (RFC 5646 §2.1): a 2–8 letter language, then subtags of 1–8
/// letters or digits joined by `-`. Registry membership is not checked.
fn is_language_tag(value: &str) -> bool {
    let mut subtags = value.split('-');
    let language_ok =
        subtags.next().is_some_and(|l| (2..=8).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    language_ok && subtags.all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(picture: Option<&str>, locale: Option<&str>, phone: Option<&str>) -> ProfileEdit {
        let some = |v: Option<&str>| v.map(|v| Some(v.to_owned()));
        ProfileEdit { name: None, phone: some(phone), picture: some(picture), locale: some(locale) }
    }

    #[test]
    fn pictures_are_https_urls_or_http_on_loopback() {
        for good in
            ["https://cdn.example.com/a.png", "http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://[::1]/a"]
        {
            assert!(edit(Some(good), None, None).into_changes().is_ok(), "{good}");
        }
        for bad in
            ["http://cdn.example.com/a.png", "/a.png", "javascript:alert(1)", "data:image/png;base64,AA", "ftp://x/a"]
        {
            assert_eq!(edit(Some(bad), None, None).into_changes().unwrap_err(), ProfileEditError::Picture, "{bad}");
        }
    }

    #[test]
    fn locales_are_bcp_47_shaped() {
        for good in ["en", "pt-BR", "zh-Hant-TW", "de-CH-1996", "sr-Latn"] {
            assert!(edit(None, Some(good), None).into_changes().is_ok(), "{good}");
        }
        for bad in ["e", "en_US", "en-", "-en", "en-toolongsubtag", "1en", "en US"] {
            assert_eq!(edit(None, Some(bad), None).into_changes().unwrap_err(), ProfileEditError::Locale, "{bad}");
        }
    }

    #[test]
    fn null_or_blank_clears_and_limits_hold() {
        let changes = ProfileEdit { name: Some(None), phone: Some(Some(" ".to_owned())), ..Default::default() }
            .into_changes()
            .unwrap();
        assert_eq!((changes.name, changes.phone, changes.picture), (Some(None), Some(None), None));
        let long = ProfileEdit { name: Some(Some("x".repeat(201))), ..Default::default() };
        assert!(matches!(long.into_changes(), Err(ProfileEditError::TooLong(_))));
        assert_eq!(edit(None, None, Some("call me")).into_changes().unwrap_err(), ProfileEditError::Phone);
        assert!(edit(None, None, Some("+1 (555) 010-0000")).into_changes().is_ok());
    }
}
