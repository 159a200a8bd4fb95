//! ferrid's key material.
//!
//! This crate owns every secret ferrid generates: the opaque random values handed out once and
//! stored only as digests (client secrets, codes, refresh tokens), and the signing/encryption
//! key ring — generation, sealing at rest, rotation, the published JWKS, and JWS/JWE.
//!
//! JOSE is implemented with josekit behind this crate's own types; no josekit type appears in
//! the public API, so the library can be swapped (STACK.md). Nothing here reads the clock or
//! global state: time is a parameter, storage is the [`KeyStore`] trait.

mod alg;
mod error;
mod header;
mod jwe;
mod jwk;
mod jws;
mod key;
mod mac;
mod opaque;
mod record;
mod ring;
mod rotation;
mod seal;
mod store;

#[cfg(test)]
mod jose_tests;
#[cfg(test)]
mod ring_tests;

pub use alg::{ContentEncryptionAlg, KeyAlg, KeyEncryptionAlg, KeyUse, SigningAlg};
pub use error::{KeyError, Result};
pub use header::JoseHeader;
pub use jwe::{
    DecryptedJwe, DecryptionKey, decrypt_jwe, decrypt_nested_jwt, encrypt_jwe, encrypt_nested_jwt, sign_and_encrypt_jwt,
};
pub use jwk::{Jwks, PublicJwk};
pub use jws::{
    SigningKey, Validation, VerifiedJws, VerifyingKey, sign_jws, sign_jwt, sign_jwt_with_jwk, verify_jws,
    verify_jws_with_embedded_jwk, verify_jwt,
};
pub use key::PrivateKey;
pub use mac::MacKey;
pub use opaque::{OpaqueSecret, SecretDigest, random_digits, random_id};
pub use record::{KeyRecord, KeyState, Transition};
pub use ring::{KeyRing, RotationOutcome, jwks_json};
pub use rotation::{Change, RotationPolicy, plan_rotation};
pub use seal::{Kek, open, seal};
pub use store::{KeyStore, MemoryKeyStore};
