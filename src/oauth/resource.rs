//! Resource indicators (RFC 8707): the protected resources an access token is meant for, which
//! become its `aud` (RFC 9068 §2.2).

use url::Url;

use super::error::OAuthError;

/// A `resource` parameter value: an absolute URI without a fragment (RFC 8707 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource(String);

impl Resource {
    /// RFC 8707 §2: "an absolute URI … MUST NOT include a fragment component"; anything else is
    /// `invalid_target`. The value is kept as sent, since `aud` is compared as a string.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let invalid = || OAuthError::InvalidTarget("resource must be an absolute URI without a fragment".into());
        let url = Url::parse(value).map_err(|_| invalid())?;
        if url.fragment().is_some() || value.contains('#') {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_absolute_uris_without_fragment_rfc_8707_2() {
        for good in ["https://api.example.com", "https://api.example.com/v1?x=1", "urn:example:api"] {
            assert_eq!(Resource::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "api", "/relative", "https://api.example.com/#frag", "https://api.example.com#"] {
            assert_eq!(Resource::parse(bad).unwrap_err().code(), "invalid_target", "{bad:?}");
        }
    }
}
