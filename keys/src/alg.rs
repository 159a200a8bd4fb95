//! The JOSE algorithms ferrid implements, as closed enums with their RFC 7518 names.
//!
//! Anything else — `none`, HMAC, RSA1_5 — fails to parse, so a token can never choose an
//! algorithm outside this list (RFC 8725 §3.1, §3.2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// JWS signature algorithms (RFC 7518 §3.1; EdDSA: RFC 8037 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256; the OIDC mandatory ID-token algorithm (OIDC Core §15.1).
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

/// JWE key-management algorithms (RFC 7518 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyEncryptionAlg {
    /// RSAES-OAEP with SHA-256 and MGF1 SHA-256 (RFC 7518 §4.3).
    RsaOaep256,
    /// ECDH-ES direct key agreement (RFC 7518 §4.6).
    EcdhEs,
    /// ECDH-ES with the agreed key wrapping a random CEK under A256KW (RFC 7518 §4.6).
    EcdhEsA256Kw,
}

/// JWE content-encryption algorithms (RFC 7518 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentEncryptionAlg {
    /// AES-256-GCM (RFC 7518 §5.3).
    A256Gcm,
    /// AES-128-CBC with HMAC-SHA-256 (RFC 7518 §5.2.3).
    A128CbcHs256,
}

/// What a key is for: the JWK `use` member (RFC 7517 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUse {
    Sig,
    Enc,
}

/// The algorithm a ring key is bound to: one key serves exactly one algorithm (RFC 8725 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyAlg {
    Signing(SigningAlg),
    Encryption(KeyEncryptionAlg),
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

impl KeyEncryptionAlg {
    pub const ALL: [KeyEncryptionAlg; 3] = [Self::RsaOaep256, Self::EcdhEs, Self::EcdhEsA256Kw];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::EcdhEs => "ECDH-ES",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }
}

impl ContentEncryptionAlg {
    pub const ALL: [ContentEncryptionAlg; 2] = [Self::A256Gcm, Self::A128CbcHs256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A256Gcm => "A256GCM",
            Self::A128CbcHs256 => "A128CBC-HS256",
        }
    }
}

impl KeyUse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sig => "sig",
            Self::Enc => "enc",
        }
    }
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing(alg) => alg.as_str(),
            Self::Encryption(alg) => alg.as_str(),
        }
    }

    pub fn key_use(self) -> KeyUse {
        match self {
            Self::Signing(_) => KeyUse::Sig,
            Self::Encryption(_) => KeyUse::Enc,
        }
    }
}

macro_rules! name_impls {
    ($ty:ty, $all:expr) => {
        impl FromStr for $ty {
            type Err = KeyError;

            /// Parses the exact, case-sensitive RFC 7518 name.
            fn from_str(s: &str) -> Result<Self, KeyError> {
                $all.into_iter()
                    .find(|alg| alg.as_str() == s)
                    .ok_or_else(|| KeyError::UnsupportedAlgorithm(s.to_owned()))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_impls!(SigningAlg, SigningAlg::ALL);
name_impls!(KeyEncryptionAlg, KeyEncryptionAlg::ALL);
name_impls!(ContentEncryptionAlg, ContentEncryptionAlg::ALL);

impl FromStr for KeyAlg {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        s.parse().map(Self::Signing).or_else(|_| s.parse().map(Self::Encryption))
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for KeyAlg {
    type Error = KeyError;

    fn try_from(value: String) -> Result<Self, KeyError> {
        value.parse()
    }
}

impl From<KeyAlg> for String {
    fn from(value: KeyAlg) -> Self {
        value.as_str().to_owned()
    }
}

impl From<SigningAlg> for KeyAlg {
    fn from(value: SigningAlg) -> Self {
        Self::Signing(value)
    }
}

impl From<KeyEncryptionAlg> for KeyAlg {
    fn from(value: KeyEncryptionAlg) -> Self {
        Self::Encryption(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in SigningAlg::ALL {
            assert_eq!(alg.as_str().parse::<KeyAlg>().ok(), Some(KeyAlg::Signing(alg)));
        }
        for alg in KeyEncryptionAlg::ALL {
            assert_eq!(alg.as_str().parse::<KeyAlg>().ok(), Some(KeyAlg::Encryption(alg)));
        }
        for enc in ContentEncryptionAlg::ALL {
            assert_eq!(enc.as_str().parse::<ContentEncryptionAlg>().ok(), Some(enc));
        }
    }

    /// RFC 8725 §3.1: `none` and algorithms outside the list never parse.
    #[test]
    fn none_and_unknown_names_are_rejected() {
        for name in ["none", "None", "HS256", "rs256", "RSA1_5", "RSA-OAEP", ""] {
            assert!(name.parse::<SigningAlg>().is_err(), "{name}");
            assert!(name.parse::<KeyAlg>().is_err(), "{name}");
        }
    }
}
