//! RFC 6238 time-based one-time passwords with the parameters every authenticator app reads:
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of clock skew either way (RFC 6238 §5.2).
//! The arithmetic is `totp-rs`; this module owns the secret, the otpauth:// URI and its QR code.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use qrcode::{EcLevel, QrCode, render::svg};
use ring::rand::{SecureRandom, SystemRandom};
use totp_rs::{Algorithm, Builder, Totp};

/// RFC 4226 §4 R6 recommends 160 bits, the length of an HMAC-SHA-1 key.
pub const SECRET_BYTES: usize = 20;
pub const DIGITS: u8 = 6;
/// Seconds per time step (RFC 6238 §5.2 recommends 30).
pub const PERIOD: u64 = 30;
/// Steps accepted either side of now, for clock drift and typing time (RFC 6238 §5.2).
pub const SKEW: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP parameters are invalid: {0}")]
    Parameters(String),
    #[error("the random number generator failed")]
    Random,
    #[error("the QR code could not be drawn")]
    QrCode,
}

/// The shared HMAC key. `Debug` never shows it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A fresh secret from the system CSPRNG.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        SystemRandom::new().fill(&mut bytes).map_err(|_| TotpError::Random)?;
        Ok(Self(bytes))
    }

    /// A secret read back from storage (after unsealing).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw key: only to seal it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Unpadded base32 (RFC 4648 §6), what authenticator apps accept for manual entry.
    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }

    fn generator(&self, digits: u8) -> Result<Totp, TotpError> {
        totp(self.0.clone(), digits, "", None)
    }

    /// The code for the step holding `now` (tests and the enrolment check use it).
    pub fn code_at(&self, now: DateTime<Utc>) -> Result<String, TotpError> {
        Ok(self.generator(DIGITS)?.generate(unix_seconds(now)).to_string())
    }

    /// The time step `code` belongs to, if it is valid within ±[`SKEW`] steps of `now`. The caller
    /// must accept each step at most once (RFC 6238 §5.2); see `SecondFactors::verify`.
    pub fn check(&self, code: &str, now: DateTime<Utc>) -> Option<u64> {
        let code = code.trim();
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // totp-rs compares in constant time.
        self.generator(DIGITS).ok()?.check(code, unix_seconds(now))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

fn totp(secret: Vec<u8>, digits: u8, account: &str, issuer: Option<&str>) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(SKEW)
        .with_step_duration(PERIOD)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(issuer)
        .build()
        .map_err(|error| TotpError::Parameters(error.to_string()))
}

fn unix_seconds(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// The step's first second, as a time (stored as the last step accepted).
pub fn step_start(step: u64) -> DateTime<Utc> {
    let seconds = i64::try_from(step.saturating_mul(PERIOD)).unwrap_or(i64::MAX);
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The Key Uri Format authenticator apps scan: `otpauth://totp/issuer:account?secret=…&issuer=…`
/// with the algorithm, digits and period spelled out (some apps ignore the defaults otherwise).
pub fn provisioning_uri(secret: &TotpSecret, issuer: &str, account: &str) -> Result<String, TotpError> {
    // A colon separates issuer and account in the label, so neither may contain one.
    let issuer = issuer.replace(':', "");
    let account = account.replace(':', "");
    let uri = totp(secret.0.clone(), DIGITS, &account, Some(&issuer))?
        .to_url()
        .map_err(|error| TotpError::Parameters(error.to_string()))?;
    Ok(format!("{uri}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"))
}

/// The URI as a QR code, an SVG image in a `data:` URL (the pages' CSP allows `img-src data:`).
pub fn qr_code_data_url(uri: &str) -> Result<String, TotpError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).map_err(|_| TotpError::QrCode)?;
    let image = code.render::<svg::Color<'_>>().min_dimensions(200, 200).build();
    Ok(format!("data:image/svg+xml;base64,{}", STANDARD.encode(image)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    /// RFC 6238 Appendix B, the SHA-1 rows (8 digits).
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let totp = totp(RFC_SEED.to_vec(), 8, "", None).unwrap();
        for (time, expected) in vectors {
            assert_eq!(totp.generate(time).to_string(), expected, "T = {time}");
        }
    }

    /// Six digits are the same HOTP value modulo 10^6 (RFC 4226 §5.3).
    #[test]
    fn six_digit_codes_are_the_low_digits_of_the_vectors() {
        let secret = TotpSecret::from_bytes(RFC_SEED.to_vec());
        assert_eq!(secret.code_at(at(59)).unwrap(), "287082");
        assert_eq!(secret.code_at(at(1_111_111_109)).unwrap(), "081804");
        assert_eq!(secret.code_at(at(1_234_567_890)).unwrap(), "005924");
    }

    /// RFC 6238 §5.2: one step of skew either way, no more; the matched step is returned.
    #[test]
    fn codes_are_accepted_one_step_either_side_and_not_further() {
        let secret = TotpSecret::generate().unwrap();
        let now = at(1_700_000_000);
        let step = 1_700_000_000 / PERIOD;
        assert_eq!(secret.check(&secret.code_at(now).unwrap(), now), Some(step));
        let previous = secret.code_at(at(1_700_000_000 - 30)).unwrap();
        let next = secret.code_at(at(1_700_000_000 + 30)).unwrap();
        assert_eq!(secret.check(&previous, now), Some(step - 1));
        assert_eq!(secret.check(&next, now), Some(step + 1));
        let stale = secret.code_at(at(1_700_000_000 - 90)).unwrap();
        let early = secret.code_at(at(1_700_000_000 + 90)).unwrap();
        assert!(stale == secret.code_at(now).unwrap() || secret.check(&stale, now).is_none());
        assert!(early == secret.code_at(now).unwrap() || secret.check(&early, now).is_none());
        for wrong in ["", "12345", "1234567", "abcdef", " 12 34"] {
            assert_eq!(secret.check(wrong, now), None, "{wrong:?}");
        }
    }

    #[test]
    fn secrets_are_20_random_bytes_and_never_debug_printed() {
        let (a, b) = (TotpSecret::generate().unwrap(), TotpSecret::generate().unwrap());
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "TotpSecret([redacted])");
        // 160 bits in base32 are 32 characters, no padding.
        assert_eq!(a.base32().len(), 32);
    }

    /// Key Uri Format: label `issuer:account`, the issuer parameter, and the parameters spelled out.
    #[test]
    fn the_provisioning_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::from_bytes(RFC_SEED.to_vec());
        let uri = provisioning_uri(&secret, "ferrid", "ann@example.com").unwrap();
        let parsed = url::Url::parse(&uri).unwrap();
        assert_eq!(parsed.scheme(), "otpauth");
        assert_eq!(parsed.host_str(), Some("totp"));
        assert!(parsed.path().starts_with("/ferrid:ann"), "{uri}");
        let params: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(params["secret"], "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(params["issuer"], "ferrid");
        assert_eq!(params["algorithm"], "SHA1");
        assert_eq!(params["digits"], "6");
        assert_eq!(params["period"], "30");
    }

    #[test]
    fn the_qr_code_is_an_svg_data_url() {
        let secret = TotpSecret::generate().unwrap();
        let uri = provisioning_uri(&secret, "ferrid", "ann@example.com").unwrap();
        let data_url = qr_code_data_url(&uri).unwrap();
        let encoded = data_url.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
