//! Opaque random secrets and their at-rest digests.
//!
//! A secret has at least 256 bits from the system CSPRNG, so a single unsalted SHA-256 is a
//! sufficient at-rest form: it cannot be brute-forced, and checking it costs microseconds
//! (DESIGN §6: client authentication must be fast; passwords, which are guessable, use argon2id).

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{digest, rand::SecureRandom, rand::SystemRandom};
use subtle::ConstantTimeEq;

/// Bytes of entropy in a generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// A secret value handed to its owner exactly once. `Debug` never shows it.
#[derive(Clone)]
pub struct OpaqueSecret(String);

impl OpaqueSecret {
    /// Generates a fresh 256-bit secret, base64url-encoded (43 characters).
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>()))
    }

    /// Wraps a secret presented by a caller, e.g. a client secret in a token request.
    pub fn from_presented(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear value: call only to hand it to its owner or to digest it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, self.0.as_bytes())))
    }
}

impl fmt::Debug for OpaqueSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueSecret([redacted])")
    }
}

/// The at-rest form of an [`OpaqueSecret`]: base64url SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretDigest(String);

impl SecretDigest {
    /// Restores a digest read from storage.
    pub fn from_stored(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the secret this digest was made from, compared in constant time.
    pub fn matches(&self, presented: &OpaqueSecret) -> bool {
        let candidate = presented.digest();
        bool::from(self.0.as_bytes().ct_eq(candidate.0.as_bytes()))
    }
}

/// A random identifier with `bytes` bytes of entropy, base64url-encoded. Not a secret.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `digits` uniformly random decimal digits (a one-time code), at most 9.
pub fn random_digits(digits: u32) -> String {
    let digits = digits.clamp(1, 9);
    let modulus = 10u32.pow(digits);
    // Rejection sampling: values in the last, incomplete multiple of `modulus` would make low
    // codes more likely.
    let limit = u32::MAX - u32::MAX % modulus;
    loop {
        let value = u32::from_be_bytes(random_bytes::<4>());
        if value < limit {
            return format!("{:0width$}", value % modulus, width = digits as usize);
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    fill(&mut buf);
    buf
}

fn fill(buf: &mut [u8]) {
    // The system RNG fails only if the OS cannot provide entropy at all, in which case no secret
    // may be issued: aborting is the only safe outcome.
    #[allow(clippy::expect_used)]
    SystemRandom::new().fill(buf).expect("the operating system's random number generator is unavailable");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_and_distinct() {
        let a = OpaqueSecret::generate();
        let b = OpaqueSecret::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn digest_matches_only_its_secret() {
        let secret = OpaqueSecret::generate();
        let stored = SecretDigest::from_stored(secret.digest().as_str());
        assert!(stored.matches(&OpaqueSecret::from_presented(secret.expose())));
        assert!(!stored.matches(&OpaqueSecret::generate()));
        assert_ne!(stored.as_str(), secret.expose());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = OpaqueSecret::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn random_digits_are_fixed_width_decimal() {
        for _ in 0..200 {
            let code = random_digits(6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_ne!(random_digits(9), random_digits(9));
    }

    #[test]
    fn random_ids_have_the_requested_entropy() {
        assert_eq!(random_id(16).len(), 22);
        assert_ne!(random_id(16), random_id(16));
    }
}
