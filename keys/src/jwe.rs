//! JWE compact serialization (RFC 7516) and nested JWTs (RFC 7519 §5.2, §7.1 step 6), over
//! josekit.
//!
//! Decryption refuses any `alg` other than the one the key is bound to and any `enc` outside
//! [`ContentEncryptionAlg`], and reports every failure the same way, so a caller cannot be
//! used as a padding or key-validity oracle.

use std::fmt;

use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

use crate::alg::{ContentEncryptionAlg, KeyEncryptionAlg};
use crate::error::{KeyError, Result};
use crate::header::{self, JoseHeader};
use crate::jwk::PublicJwk;
use crate::jws::{SigningKey, Validation, VerifyingKey, sign_jwt, verify_jwt};

/// The `cty` that marks a nested JWT (RFC 7519 §5.2).
const NESTED_CTY: &str = "JWT";

/// A private key-management key with its decrypter parsed once.
pub struct DecryptionKey {
    alg: KeyEncryptionAlg,
    public: PublicJwk,
    decrypter: Box<dyn JweDecrypter>,
}

/// A decrypted JWE: its protected header and plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptedJwe {
    pub header: JoseHeader,
    pub payload: Vec<u8>,
}

impl fmt::Debug for DecryptedJwe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedJwe").field("header", &self.header).field("payload", &"[redacted]").finish()
    }
}

impl DecryptionKey {
    pub(crate) fn new(alg: KeyEncryptionAlg, private: &Jwk, public: PublicJwk) -> Result<Self> {
        let decrypter: Box<dyn JweDecrypter> = match alg {
            KeyEncryptionAlg::RsaOaep256 => {
                let mut d = jwe::RSA_OAEP_256.decrypter_from_jwk(private).map_err(KeyError::key)?;
                d.remove_key_id();
                Box::new(d)
            }
            KeyEncryptionAlg::EcdhEs => {
                let mut d = jwe::ECDH_ES.decrypter_from_jwk(private).map_err(KeyError::key)?;
                d.remove_key_id();
                Box::new(d)
            }
            KeyEncryptionAlg::EcdhEsA256Kw => {
                let mut d = jwe::ECDH_ES_A256KW.decrypter_from_jwk(private).map_err(KeyError::key)?;
                d.remove_key_id();
                Box::new(d)
            }
        };
        Ok(Self { alg, public, decrypter })
    }

    pub fn alg(&self) -> KeyEncryptionAlg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.public.kid()
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey").field("alg", &self.alg).field("kid", &self.kid()).finish_non_exhaustive()
    }
}

/// Encrypts `payload` to `recipient` (e.g. a key from a client's registered `jwks`), with the
/// recipient's `kid` in the header when it has one.
pub fn encrypt_jwe(
    payload: &[u8],
    recipient: &PublicJwk,
    alg: KeyEncryptionAlg,
    enc: ContentEncryptionAlg,
    cty: Option<&str>,
) -> Result<String> {
    if !recipient.fits(alg.into()) {
        return Err(KeyError::InvalidKey(format!("a {} key cannot receive {alg}", recipient.kty())));
    }
    let j = recipient.to_josekit()?;
    let encrypter: Box<dyn JweEncrypter> = match alg {
        KeyEncryptionAlg::RsaOaep256 => Box::new(jwe::RSA_OAEP_256.encrypter_from_jwk(&j).map_err(KeyError::key)?),
        KeyEncryptionAlg::EcdhEs => Box::new(jwe::ECDH_ES.encrypter_from_jwk(&j).map_err(KeyError::key)?),
        KeyEncryptionAlg::EcdhEsA256Kw => Box::new(jwe::ECDH_ES_A256KW.encrypter_from_jwk(&j).map_err(KeyError::key)?),
    };
    let mut header = JweHeader::new();
    header.set_content_encryption(enc.as_str());
    if let Some(kid) = recipient.kid() {
        header.set_key_id(kid);
    }
    if let Some(cty) = cty {
        header.set_content_type(cty);
    }
    jwe::serialize_compact(payload, &header, encrypter.as_ref()).map_err(KeyError::crypto)
}

/// Decrypts a compact JWE with `key` (RFC 7516 §5.2). The caller picks the key; the header's
/// `kid` is not checked here (see [`crate::KeyRing::decrypt_jwe`] for selection by kid).
pub fn decrypt_jwe(token: &str, key: &DecryptionKey) -> Result<DecryptedJwe> {
    let header = header::decode(token, 5)?;
    let alg: KeyEncryptionAlg = header.alg.parse()?;
    if alg != key.alg {
        return Err(KeyError::AlgorithmNotAllowed(alg.as_str().into()));
    }
    let enc = header.enc.as_deref().ok_or_else(|| KeyError::MalformedToken("enc is required".into()))?;
    enc.parse::<ContentEncryptionAlg>()?;
    let (payload, _) =
        jwe::deserialize_compact(token, key.decrypter.as_ref()).map_err(|_| KeyError::DecryptionFailed)?;
    Ok(DecryptedJwe { header, payload })
}

/// Wraps an already signed JWT in a JWE with `cty: "JWT"` (RFC 7519 §5.2: sign, then encrypt).
pub fn encrypt_nested_jwt(
    signed_jwt: &str,
    recipient: &PublicJwk,
    alg: KeyEncryptionAlg,
    enc: ContentEncryptionAlg,
) -> Result<String> {
    encrypt_jwe(signed_jwt.as_bytes(), recipient, alg, enc, Some(NESTED_CTY))
}

/// Signs `claims` with `key`, then encrypts the JWS to `recipient`.
pub fn sign_and_encrypt_jwt(
    key: &SigningKey,
    typ: Option<&str>,
    claims: &Map<String, Value>,
    recipient: &PublicJwk,
    alg: KeyEncryptionAlg,
    enc: ContentEncryptionAlg,
) -> Result<String> {
    encrypt_nested_jwt(&sign_jwt(key, typ, claims)?, recipient, alg, enc)
}

/// Decrypts a nested JWT, requires `cty: "JWT"`, then verifies the inner JWS and its claims.
pub fn decrypt_nested_jwt(
    token: &str,
    key: &DecryptionKey,
    verifying: &[VerifyingKey],
    validation: &Validation<'_>,
) -> Result<Map<String, Value>> {
    let outer = decrypt_jwe(token, key)?;
    nested_claims(outer, verifying, validation)
}

pub(crate) fn nested_claims(
    outer: DecryptedJwe,
    verifying: &[VerifyingKey],
    validation: &Validation<'_>,
) -> Result<Map<String, Value>> {
    if !outer.header.cty.as_deref().is_some_and(|cty| header::media_type_eq(cty, NESTED_CTY)) {
        return Err(KeyError::UnexpectedType);
    }
    let inner = std::str::from_utf8(&outer.payload).map_err(|_| KeyError::MalformedToken("nested JWT".into()))?;
    verify_jwt(inner, verifying, validation)
}
