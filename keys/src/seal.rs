//! Sealing private keys at rest under the key-encryption key (KEK).
//!
//! AES-256-GCM (ring) with a fresh random 96-bit nonce per seal and the key's `kid` as
//! associated data, so a sealed blob cannot be moved to another key's row. Format:
//! `version (1) || nonce (12) || ciphertext || tag (16)`.

use std::fmt;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{KeyError, Result};

const KEK_LEN: usize = 32;
const FORMAT_V1: u8 = 1;

/// The 256-bit key-encryption key. `Debug` never shows it.
pub struct Kek {
    bytes: [u8; KEK_LEN],
    key: LessSafeKey,
}

impl Kek {
    /// A fresh random KEK, for an operator's first start.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEK_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Rng)?;
        Self::from_bytes(bytes)
    }

    /// Reads a KEK from base64 (standard or URL-safe alphabet, padded or not): 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self> {
        let encoded = encoded.trim();
        let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(encoded).ok())
            .ok_or(KeyError::InvalidKek("not base64"))?;
        let bytes: [u8; KEK_LEN] = decoded.try_into().map_err(|_| KeyError::InvalidKek("must be 32 bytes"))?;
        Self::from_bytes(bytes)
    }

    /// The KEK as standard base64, to hand to the operator once. Never log it.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The raw key, only to derive other keys from (see `mac`).
    pub(crate) fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn from_bytes(bytes: [u8; KEK_LEN]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::InvalidKek("must be 32 bytes"))?;
        Ok(Self { bytes, key: LessSafeKey::new(unbound) })
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

/// Encrypts `plaintext` under `kek`, binding it to `aad` (the key's kid).
pub fn seal(kek: &Kek, plaintext: &[u8], aad: &str) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Rng)?;
    let mut body = plaintext.to_vec();
    kek.key
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut body)
        .map_err(|_| KeyError::Crypto("AES-GCM seal".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a blob made by [`seal`]. A different KEK, a different `aad` or any altered byte
/// gives [`KeyError::WrongKek`]; it never yields garbage.
pub fn open(kek: &Kek, sealed: &[u8], aad: &str) -> Result<Vec<u8>> {
    let (version, rest) = sealed.split_first().ok_or(KeyError::MalformedSealedKey)?;
    if *version != FORMAT_V1 || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(KeyError::MalformedSealedKey);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::MalformedSealedKey)?;
    let mut body = body.to_vec();
    let plain = kek.key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body).map_err(|_| KeyError::WrongKek)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_with_the_same_kek() {
        let kek = Kek::generate().unwrap();
        let sealed = seal(&kek, b"private key bytes", "kid-1").unwrap();
        assert_eq!(open(&kek, &sealed, "kid-1").unwrap(), b"private key bytes");
        assert!(!sealed.windows(7).any(|w| w == b"private"));
    }

    #[test]
    fn nonces_are_fresh() {
        let kek = Kek::generate().unwrap();
        assert_ne!(seal(&kek, b"x", "k").unwrap(), seal(&kek, b"x", "k").unwrap());
    }

    #[test]
    fn wrong_kek_is_a_distinct_error() {
        let sealed = seal(&Kek::generate().unwrap(), b"secret", "kid-1").unwrap();
        let other = Kek::generate().unwrap();
        assert!(matches!(open(&other, &sealed, "kid-1"), Err(KeyError::WrongKek)));
    }

    #[test]
    fn a_blob_is_bound_to_its_kid_and_bytes() {
        let kek = Kek::generate().unwrap();
        let mut sealed = seal(&kek, b"secret", "kid-1").unwrap();
        assert!(matches!(open(&kek, &sealed, "kid-2"), Err(KeyError::WrongKek)));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(open(&kek, &sealed, "kid-1"), Err(KeyError::WrongKek)));
        assert!(matches!(open(&kek, &sealed[..10], "kid-1"), Err(KeyError::MalformedSealedKey)));
        assert!(matches!(open(&kek, &[], "kid-1"), Err(KeyError::MalformedSealedKey)));
    }

    #[test]
    fn kek_parses_from_base64_and_hides_itself() {
        let kek = Kek::generate().unwrap();
        let encoded = kek.expose_base64();
        let again = Kek::from_base64(&encoded).unwrap();
        let sealed = seal(&kek, b"x", "k").unwrap();
        assert_eq!(open(&again, &sealed, "k").unwrap(), b"x");
        assert!(!format!("{kek:?}").contains(&encoded));
        assert!(matches!(Kek::from_base64("c2hvcnQ="), Err(KeyError::InvalidKek(_))));
        assert!(matches!(Kek::from_base64("!!!"), Err(KeyError::InvalidKek(_))));
    }
}
