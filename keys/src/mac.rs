//! Keyed digests (HMAC-SHA256) for values too small to store as plain digests: a 6-digit code has
//! a million possible values, so its SHA-256 would be reversed instantly; its HMAC under a key the
//! database never holds cannot be. Also signs links that must not be forged.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{hkdf, hmac};

use crate::seal::Kek;

/// An HMAC-SHA256 key derived from the KEK for one purpose, so a tag made for one use is
/// worthless for another. `Debug` never shows it.
#[derive(Clone)]
pub struct MacKey(hmac::Key);

impl MacKey {
    pub(crate) fn derive(ikm: &[u8], purpose: &str) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"ferrid mac key");
        let info = [purpose.as_bytes()];
        let key = salt
            .extract(ikm)
            .expand(&info, hmac::HMAC_SHA256)
            // A 32-byte output is always within HKDF's limit (255 × 32 bytes).
            .map(hmac::Key::from)
            .unwrap_or_else(|_| unreachable!("HKDF-SHA256 can always expand to one HMAC key"));
        Self(key)
    }

    /// The base64url tag of `data`.
    pub fn tag(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, data).as_ref())
    }

    /// Whether `tag` is `data`'s tag, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &str) -> bool {
        URL_SAFE_NO_PAD.decode(tag).is_ok_and(|tag| hmac::verify(&self.0, data, &tag).is_ok())
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

impl Kek {
    /// The MAC key for `purpose` (e.g. `"email-code"`); every node with the same KEK derives the
    /// same key.
    pub fn mac_key(&self, purpose: &str) -> MacKey {
        MacKey::derive(self.expose_bytes(), purpose)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_for_the_same_data_purpose_and_kek() {
        let kek = Kek::generate().unwrap();
        let key = kek.mac_key("email-code");
        let tag = key.tag(b"123456");
        assert!(key.verify(b"123456", &tag));
        assert!(!key.verify(b"123457", &tag));
        assert!(!kek.mac_key("reset-link").verify(b"123456", &tag));
        assert!(!Kek::generate().unwrap().mac_key("email-code").verify(b"123456", &tag));
        assert!(!key.verify(b"123456", "not base64!"));
        let again = Kek::from_base64(&kek.expose_base64()).unwrap();
        assert_eq!(again.mac_key("email-code").tag(b"123456"), tag, "every node derives the same key");
        assert!(!format!("{key:?}").contains(&tag));
    }
}
