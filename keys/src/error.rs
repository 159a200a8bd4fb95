//! The crate's one error type.
//!
//! Messages name algorithms, kids and formats, never key material, claims or token contents, so
//! an error can be logged as is (DESIGN §7.3).

/// Everything that can go wrong with keys, JOSE objects and the key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An algorithm name ferrid does not implement, including `none` (RFC 8725 §3.1).
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// An algorithm ferrid implements but the caller did not allow for this token.
    #[error("algorithm not allowed here: {0}")]
    AlgorithmNotAllowed(String),
    /// A JWK that is malformed or unusable for the requested algorithm.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A JWS or JWE that is not well-formed compact serialization or has an unacceptable header.
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// A JWS whose signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// No key in the set matches the token's `kid` and `alg`.
    #[error("no key matches the token")]
    NoMatchingKey,
    /// `exp` is in the past (RFC 7519 §4.1.4).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (RFC 7519 §4.1.5).
    #[error("token not yet valid")]
    NotYetValid,
    /// A required claim is missing or has the wrong JSON type.
    #[error("invalid claim: {0}")]
    InvalidClaim(&'static str),
    /// The `typ` header is not the expected one (RFC 8725 §3.11).
    #[error("unexpected token type")]
    UnexpectedType,
    /// A JWE that cannot be decrypted with this key. Deliberately undifferentiated (no oracle).
    #[error("decryption failed")]
    DecryptionFailed,
    /// A cryptographic operation failed for a reason other than bad input.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    /// A sealed key did not open: the KEK is not the one it was sealed with (or the blob was
    /// altered, which AES-GCM cannot tell apart).
    #[error("the key-encryption key does not open this sealed key")]
    WrongKek,
    /// A sealed key blob with an unknown version or a truncated body.
    #[error("malformed sealed key")]
    MalformedSealedKey,
    /// A KEK that is not 32 bytes of valid base64.
    #[error("invalid key-encryption key: {0}")]
    InvalidKek(&'static str),
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Rng,
    /// The ring has no active signing key for the algorithm.
    #[error("no active key for {0}")]
    NoActiveKey(&'static str),
    /// A kid that is not in the key store.
    #[error("unknown key: {0}")]
    UnknownKey(String),
    /// The backing [`crate::KeyStore`] failed.
    #[error("key store failure")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = KeyError> = std::result::Result<T, E>;

impl KeyError {
    /// Maps a josekit error on a key operation. The josekit message describes formats only.
    pub(crate) fn key(err: josekit::JoseError) -> Self {
        Self::InvalidKey(err.to_string())
    }

    pub(crate) fn crypto(err: josekit::JoseError) -> Self {
        Self::Crypto(err.to_string())
    }
}
