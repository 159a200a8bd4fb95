//! Proof Key for Code Exchange (RFC 7636), S256 only: the challenge sent to the authorization
//! endpoint, the verifier sent to the token endpoint, and the check that binds them.
//!
//! ferrid never accepts `plain` (RFC 9700 §2.1.1): with `plain` the challenge is the verifier,
//! so anyone who sees the authorization request can redeem the code.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::digest;
use subtle::ConstantTimeEq;

/// The only transformation ferrid supports (RFC 7636 §4.2).
pub const S256: &str = "S256";

/// Length of BASE64URL(SHA-256(..)) without padding: 32 bytes → 43 characters.
const CHALLENGE_LEN: usize = 43;

/// Why a PKCE parameter was rejected; all are `invalid_request` (RFC 7636 §4.4.1) at the
/// authorization endpoint and `invalid_grant` (RFC 7636 §4.6) at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// RFC 7636 §4.3 defaults an absent method to `plain`, which ferrid refuses.
    #[error("code_challenge_method is required and must be S256")]
    MethodRequired,
    /// Holds the method for logs; the message, which reaches `error_description`, does not.
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod(String),
    #[error("code_challenge must be 43 characters of unpadded base64url (a SHA-256 digest)")]
    InvalidChallenge,
    #[error("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    InvalidVerifier,
}

/// An S256 `code_challenge` (RFC 7636 §4.2): BASE64URL(SHA256(code_verifier)). Not a secret: it
/// travels in the front channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` from an authorization request
    /// (RFC 7636 §4.3). The method must be `S256` (exact, case-sensitive, §4.2), and the challenge
    /// the canonical unpadded base64url form of 32 bytes.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            None => return Err(PkceError::MethodRequired),
            Some(S256) => {}
            Some(other) => return Err(PkceError::UnsupportedMethod(other.to_owned())),
        }
        if !is_sha256_base64url(challenge) {
            return Err(PkceError::InvalidChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `code_challenge_method` this challenge was made with.
    pub fn method(&self) -> &'static str {
        S256
    }
}

/// A `code_verifier` presented at the token endpoint (RFC 7636 §4.1). `Debug` hides it: until
/// the code is redeemed, the verifier is what proves possession.
#[derive(Clone)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`
    /// (RFC 7636 §4.1).
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        let ok = (43..=128).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if ok { Ok(Self(value.to_owned())) } else { Err(PkceError::InvalidVerifier) }
    }

    /// The S256 challenge for this verifier (RFC 7636 §4.2); what a client would send.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(s256(&self.0))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

/// RFC 7636 §4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge, compared in
/// constant time so that a timing side channel cannot reveal how much of a guess was right.
pub fn verify_pkce(verifier: &CodeVerifier, challenge: &CodeChallenge) -> bool {
    bool::from(s256(&verifier.0).as_bytes().ct_eq(challenge.0.as_bytes()))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// 43 characters of unpadded base64url that decode to 32 bytes. The decoder refuses trailing
/// bits beyond the 256th, so only the one canonical encoding of a digest passes (RFC 4648 §3.5).
fn is_sha256_base64url(value: &str) -> bool {
    value.len() == CHALLENGE_LEN && URL_SAFE_NO_PAD.decode(value).is_ok_and(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn known_answer_rfc_7636_appendix_b() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert_eq!(verifier.challenge().as_str(), RFC_CHALLENGE);
        let challenge = CodeChallenge::parse(RFC_CHALLENGE, Some("S256")).unwrap();
        assert!(verify_pkce(&verifier, &challenge));
    }

    #[test]
    fn plain_and_absent_methods_are_refused_rfc_9700_2_1_1() {
        let plain = CodeChallenge::parse(RFC_VERIFIER, Some("plain"));
        assert_eq!(plain, Err(PkceError::UnsupportedMethod("plain".to_owned())));
        // RFC 7636 §4.3: absent means plain.
        assert_eq!(CodeChallenge::parse(RFC_CHALLENGE, None), Err(PkceError::MethodRequired));
        // RFC 7636 §4.2: the method name is case-sensitive.
        assert!(CodeChallenge::parse(RFC_CHALLENGE, Some("s256")).is_err());
    }

    #[test]
    fn malformed_challenges_are_refused_rfc_7636_4_2() {
        let too_short = &RFC_CHALLENGE[..42];
        let padded = format!("{RFC_CHALLENGE}=");
        let standard_alphabet = RFC_CHALLENGE.replace('-', "+");
        // Last character 'N' (sextet 13) sets bits beyond the 256th: not a base64url SHA-256.
        let non_canonical = format!("{}N", &RFC_CHALLENGE[..42]);
        for bad in
            ["", too_short, &padded, &standard_alphabet, &non_canonical, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c."]
        {
            assert_eq!(CodeChallenge::parse(bad, Some("S256")), Err(PkceError::InvalidChallenge), "{bad:?}");
        }
    }

    #[test]
    fn verifier_grammar_rfc_7636_4_1() {
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"~._-".repeat(32)).is_ok());
        for bad in ["a".repeat(42), "a".repeat(129), format!("{}+", "a".repeat(42)), format!("{} ", "a".repeat(43))] {
            assert_eq!(CodeVerifier::parse(&bad).map(|_| ()), Err(PkceError::InvalidVerifier), "{bad:?}");
        }
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert!(!format!("{verifier:?}").contains(RFC_VERIFIER));
    }

    fn verifier() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._~-]{43,128}"
    }

    proptest! {
        // RFC 7636 §4.6: a verifier matches the challenge derived from it, and no other.
        #[test]
        fn verifier_matches_only_its_own_challenge(a in verifier(), b in verifier()) {
            prop_assume!(a != b);
            let (a, b) = (CodeVerifier::parse(&a).unwrap(), CodeVerifier::parse(&b).unwrap());
            let challenge_a = CodeChallenge::parse(a.challenge().as_str(), Some("S256")).unwrap();
            prop_assert!(verify_pkce(&a, &challenge_a));
            prop_assert!(!verify_pkce(&b, &challenge_a));
        }

        // RFC 7636 §4.1: anything outside the unreserved set is refused.
        #[test]
        fn verifier_with_reserved_character_is_refused(good in "[A-Za-z0-9]{43}", bad in "[^A-Za-z0-9._~-]") {
            let value = format!("{good}{bad}");
            prop_assert!(CodeVerifier::parse(&value).is_err());
        }
    }
}
