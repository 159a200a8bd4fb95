//! Private keys: generated in-crate, bound to one algorithm, and leaving the crate only sealed.
//!
//! The private form is a JWK (RFC 7517, with the private members of RFC 7518 §6) held inside
//! this type; its bytes exist only on the way into [`crate::seal`] and out of [`crate::open`].

use std::fmt;

use josekit::jwk::{
    Jwk,
    alg::{ec::EcCurve, ed::EdCurve},
};
use serde_json::Value;

use crate::alg::{KeyAlg, KeyEncryptionAlg, SigningAlg};
use crate::error::{KeyError, Result};
use crate::jwe::DecryptionKey;
use crate::jwk::PublicJwk;
use crate::jws::SigningKey;
use crate::seal::{self, Kek};

/// RSA modulus size for generated keys (RFC 7518 §3.3 and §4.3 require at least 2048).
const RSA_BITS: u32 = 2048;

/// A private key for one algorithm. `Debug` shows only the algorithm and kid.
#[derive(Clone)]
pub struct PrivateKey {
    alg: KeyAlg,
    kid: String,
    jwk: Jwk,
    public: PublicJwk,
}

impl PrivateKey {
    /// Generates a key for `alg`: RSA 2048 for RS256/PS256/RSA-OAEP-256, P-256 for ES256 and
    /// ECDH-ES(+A256KW), Ed25519 for EdDSA. RSA generation takes tens of milliseconds: call it
    /// off the async runtime's worker threads.
    pub fn generate(alg: KeyAlg) -> Result<Self> {
        let jwk = match alg {
            KeyAlg::Signing(SigningAlg::RS256 | SigningAlg::PS256)
            | KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256) => Jwk::generate_rsa_key(RSA_BITS),
            KeyAlg::Signing(SigningAlg::ES256)
            | KeyAlg::Encryption(KeyEncryptionAlg::EcdhEs | KeyEncryptionAlg::EcdhEsA256Kw) => {
                Jwk::generate_ec_key(EcCurve::P256)
            }
            KeyAlg::Signing(SigningAlg::EdDSA) => Jwk::generate_ed_key(EdCurve::Ed25519),
        }
        .map_err(KeyError::crypto)?;
        Self::from_jwk(alg, jwk)
    }

    /// Opens a key sealed by [`PrivateKey::seal`]; `kid` must be the one it was sealed under,
    /// and the opened key must hash to it (RFC 7638), so a row cannot be swapped.
    pub fn open(kek: &Kek, alg: KeyAlg, kid: &str, sealed: &[u8]) -> Result<Self> {
        let bytes = seal::open(kek, sealed, kid)?;
        let key = Self::from_private_jwk_json(alg, &bytes)?;
        if key.kid != kid {
            return Err(KeyError::InvalidKey(format!("sealed key does not match kid {kid}")));
        }
        Ok(key)
    }

    /// Seals the private key under `kek` with its kid as associated data.
    pub fn seal(&self, kek: &Kek) -> Result<Vec<u8>> {
        seal::seal(kek, self.jwk.to_string().as_bytes(), &self.kid)
    }

    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half with `kty`, key members, `use`, `alg` and `kid`.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// A signer (and matching verifier) parsed once, for a signing key.
    pub fn signing_key(&self) -> Result<SigningKey> {
        match self.alg {
            KeyAlg::Signing(alg) => SigningKey::new(alg, &self.jwk, self.public.clone()),
            KeyAlg::Encryption(alg) => Err(KeyError::AlgorithmNotAllowed(alg.as_str().into())),
        }
    }

    /// A decrypter parsed once, for an encryption key.
    pub fn decryption_key(&self) -> Result<DecryptionKey> {
        match self.alg {
            KeyAlg::Encryption(alg) => DecryptionKey::new(alg, &self.jwk, self.public.clone()),
            KeyAlg::Signing(alg) => Err(KeyError::AlgorithmNotAllowed(alg.as_str().into())),
        }
    }

    /// Reads a private JWK (e.g. an RFC 7520 example key). The kid becomes its thumbprint.
    pub(crate) fn from_private_jwk_json(alg: KeyAlg, json: &[u8]) -> Result<Self> {
        Self::from_jwk(alg, Jwk::from_bytes(json).map_err(KeyError::key)?)
    }

    fn from_jwk(alg: KeyAlg, mut jwk: Jwk) -> Result<Self> {
        let public: serde_json::Map<String, Value> = jwk.to_public_key().map_err(KeyError::key)?.into();
        let public = PublicJwk::from_value(Value::Object(public))?;
        let kid = public.thumbprint()?;
        let public = public.with_metadata(alg, &kid);
        if !public.fits(alg) {
            return Err(KeyError::InvalidKey(format!("a {} key cannot serve {alg}", public.kty())));
        }
        jwk.set_key_id(kid.clone());
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use(alg.key_use().as_str());
        Ok(Self { alg, kid, jwk, public })
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn public_jwk_has_no_private_members_and_kid_is_the_thumbprint() {
        for alg in [
            KeyAlg::Signing(SigningAlg::RS256),
            KeyAlg::Signing(SigningAlg::ES256),
            KeyAlg::Signing(SigningAlg::EdDSA),
            KeyAlg::Encryption(KeyEncryptionAlg::EcdhEs),
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let json: Value = serde_json::from_str(&key.public_jwk().to_json()).unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(json.get(private).is_none(), "{alg}: {private}");
            }
            assert_eq!(json["kid"], key.kid());
            assert_eq!(json["alg"], alg.as_str());
            assert_eq!(json["use"], alg.key_use().as_str());
            assert_eq!(key.public_jwk().thumbprint().unwrap(), key.kid());
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256)).unwrap();
        let d = key.jwk.parameter("d").and_then(Value::as_str).unwrap().to_owned();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&d));
        assert!(shown.contains(key.kid()));
    }

    #[test]
    fn seal_round_trip_keeps_the_key() {
        let kek = Kek::generate().unwrap();
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::EdDSA)).unwrap();
        let sealed = key.seal(&kek).unwrap();
        let opened = PrivateKey::open(&kek, key.alg(), key.kid(), &sealed).unwrap();
        assert_eq!(opened.public_jwk(), key.public_jwk());
        let wrong = Kek::generate().unwrap();
        assert!(matches!(PrivateKey::open(&wrong, key.alg(), key.kid(), &sealed), Err(KeyError::WrongKek)));
    }
}
