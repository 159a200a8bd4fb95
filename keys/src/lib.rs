//! ferrid's key material.
//!
//! This crate owns every secret ferrid generates. Today that is the opaque random values handed
//! out once and stored only as digests (client secrets, later codes and refresh tokens); the
//! signing/encryption key ring joins it with the key-ring issue.

mod opaque;

pub use opaque::{OpaqueSecret, SecretDigest, random_id};
