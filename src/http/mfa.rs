//! `/api/users/me/mfa...`: the user's own two-step verification (RFC 6238 TOTP): status,
//! enrolment (otpauth:// URI, QR code, base32 secret), confirmation with a first code (which
//! hands out ten recovery codes, once), removal and new recovery codes, each after a current
//! code. Secrets and codes are in responses only; never in logs or audit details.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::{
    admin_auth::{guarded_response, unavailable},
    error::{ErrorBody, NO_STORE},
    tags::ApiTags,
    user_auth::AccountAuth,
};
use crate::{
    accounts::{
        MfaError, SecondFactorAnswer,
        mfa::{MfaStatus, RecoveryCodes},
    },
    app::AppState,
    audit::{AuditEvent, kinds},
};

/// Whether two-step verification is on.
#[derive(Object)]
#[oai(example = true)]
pub struct MfaStatusBody {
    /// A confirmed TOTP authenticator is required at sign-in.
    pub totp_enabled: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

impl poem_openapi::types::Example for MfaStatusBody {
    fn example() -> Self {
        Self { totp_enabled: true, recovery_codes_left: 9 }
    }
}

impl From<MfaStatus> for MfaStatusBody {
    fn from(status: MfaStatus) -> Self {
        Self { totp_enabled: status.totp_enabled, recovery_codes_left: status.recovery_codes_left }
    }
}

/// What an authenticator app needs; shown once. Confirm with a first code to turn it on.
#[derive(Object)]
#[oai(example = true)]
pub struct TotpEnrolmentBody {
    /// Key Uri Format: SHA-1, 6 digits, 30-second period.
    pub otpauth_uri: String,
    /// The URI as a QR code: an SVG image in a `data:` URL, for an `<img src>`.
    pub qr_code: String,
    /// The secret in base32, for typing into the app by hand.
    pub secret: String,
}

impl poem_openapi::types::Example for TotpEnrolmentBody {
    fn example() -> Self {
        Self {
            otpauth_uri: "otpauth://totp/ferrid:ann%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
                          &issuer=ferrid&algorithm=SHA1&digits=6&period=30"
                .to_owned(),
            qr_code: "data:image/svg+xml;base64,PD94bWwgdmVyc2lvbj0iMS4wIi...".to_owned(),
            secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned(),
        }
    }
}

/// A current code from the authenticator app.
#[derive(Object)]
#[oai(example = true)]
pub struct TotpCode {
    /// Six digits.
    #[oai(write_only)]
    pub code: String,
}

impl poem_openapi::types::Example for TotpCode {
    fn example() -> Self {
        Self { code: "492039".to_owned() }
    }
}

/// A current code from the authenticator app, or one of the recovery codes.
#[derive(Object)]
#[oai(example = true)]
pub struct SecondFactorProof {
    /// Six digits from the authenticator app.
    #[oai(write_only)]
    pub code: Option<String>,
    /// A recovery code, `xxxx-xxxx-xx` (spent by this request).
    #[oai(write_only)]
    pub recovery_code: Option<String>,
}

impl SecondFactorProof {
    fn answer(&self) -> Option<SecondFactorAnswer> {
        SecondFactorAnswer::from_fields(self.code.as_deref(), self.recovery_code.as_deref())
    }
}

impl poem_openapi::types::Example for SecondFactorProof {
    fn example() -> Self {
        Self { code: Some("492039".to_owned()), recovery_code: None }
    }
}

/// Ten single-use recovery codes; shown once, stored only as digests.
#[derive(Object)]
#[oai(example = true)]
pub struct RecoveryCodesBody {
    pub recovery_codes: Vec<String>,
}

impl poem_openapi::types::Example for RecoveryCodesBody {
    fn example() -> Self {
        Self { recovery_codes: vec!["7k2m-q9xd-4t".to_owned(), "bn3f-8wzc-0h".to_owned()] }
    }
}

impl From<RecoveryCodes> for RecoveryCodesBody {
    fn from(codes: RecoveryCodes) -> Self {
        Self { recovery_codes: codes.0 }
    }
}

guarded_response! {
    enum StatusResponse {
        /// The user's two-step verification status.
        #[oai(status = 200)]
        Ok(Json<MfaStatusBody>, #[oai(header = "Cache-Control")] String),
    }
}

guarded_response! {
    enum EnrolResponse {
        /// Enrolment started (any earlier unconfirmed one is replaced).
        #[oai(status = 200)]
        Ok(Json<TotpEnrolmentBody>, #[oai(header = "Cache-Control")] String),
        /// TOTP is already on (`conflict`); turn it off first.
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum CodesResponse {
        /// The recovery codes, shown this once.
        #[oai(status = 200)]
        Ok(Json<RecoveryCodesBody>, #[oai(header = "Cache-Control")] String),
        /// A missing, wrong or already used code (`invalid_code`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// Nothing to confirm, or TOTP is not on (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
        /// Too many attempts (`too_many_attempts`); try again later.
        #[oai(status = 429)]
        TooMany(Json<ErrorBody>),
    }
}

guarded_response! {
    enum DisableResponse {
        /// TOTP and the recovery codes are removed; sign-in needs the password only.
        #[oai(status = 204)]
        Disabled,
        /// A missing, wrong or already used code (`invalid_code`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// TOTP is not on (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
        /// Too many attempts (`too_many_attempts`); try again later.
        #[oai(status = 429)]
        TooMany(Json<ErrorBody>),
    }
}

fn error(code: &str, description: &str) -> Json<ErrorBody> {
    Json(ErrorBody { error: code.to_owned(), error_description: Some(description.to_owned()), request_id: None })
}

/// The refusals shared by confirm, disable and regenerate; `None` for a server-side failure.
enum Refusal {
    BadRequest(Json<ErrorBody>),
    Conflict(Json<ErrorBody>),
    TooMany(Json<ErrorBody>),
    Unavailable(MfaError),
}

fn refusal(cause: MfaError) -> Refusal {
    match cause {
        MfaError::WrongCode => Refusal::BadRequest(error_wrong_code()),
        MfaError::NoPendingEnrolment => Refusal::Conflict(error("conflict", "there is no enrolment to confirm")),
        MfaError::NotEnabled => Refusal::Conflict(error("conflict", "two-step verification is not enabled")),
        MfaError::AlreadyEnabled => Refusal::Conflict(error("conflict", "two-step verification is already enabled")),
        MfaError::TooManyAttempts => Refusal::TooMany(error("too_many_attempts", "too many attempts; try again later")),
        other => Refusal::Unavailable(other),
    }
}

fn error_wrong_code() -> Json<ErrorBody> {
    error("invalid_code", "the code is wrong or was already used")
}

macro_rules! refuse {
    ($response:ident, $error:expr) => {
        match refusal($error) {
            Refusal::BadRequest(body) => $response::BadRequest(body),
            Refusal::Conflict(body) => $response::Conflict(body),
            Refusal::TooMany(body) => $response::TooMany(body),
            Refusal::Unavailable(cause) => unavailable(cause).into(),
        }
    };
}

/// Records a change the user made to their own second factors.
async fn record(state: &AppState, auth: &AccountAuth, kind: &'static str) {
    state.audit.record(AuditEvent::new(kind, &auth.actor).user(auth.caller.user.id)).await;
}

pub struct MfaApi;

#[OpenApi(tag = "ApiTags::Account")]
impl MfaApi {
    /// Two-step verification status.
    ///
    /// Whether a TOTP authenticator is required at sign-in and how many recovery codes are left.
    #[oai(path = "/api/users/me/mfa", method = "get", operation_id = "mfa_status")]
    async fn status(&self, state: Data<&AppState>, auth: AccountAuth) -> StatusResponse {
        match state.second_factors.status(auth.caller.user.id).await {
            Ok(status) => StatusResponse::Ok(Json(status.into()), NO_STORE.to_owned()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Start TOTP enrolment.
    ///
    /// Returns a new secret as an otpauth:// URI, a QR code and base32 text (RFC 6238: SHA-1,
    /// 6 digits, 30 s). Nothing changes at sign-in until it is confirmed with a first code.
    /// Starting again replaces an unconfirmed enrolment.
    #[oai(path = "/api/users/me/mfa/totp", method = "post", operation_id = "mfa_totp_enrol")]
    async fn enrol(&self, state: Data<&AppState>, auth: AccountAuth) -> EnrolResponse {
        match state.second_factors.enrol_totp(&auth.caller.user).await {
            Ok(enrolment) => {
                let body = TotpEnrolmentBody {
                    otpauth_uri: enrolment.otpauth_uri,
                    qr_code: enrolment.qr_code,
                    secret: enrolment.secret_base32,
                };
                EnrolResponse::Ok(Json(body), NO_STORE.to_owned())
            }
            Err(MfaError::AlreadyEnabled) => {
                EnrolResponse::Conflict(error("conflict", "two-step verification is already enabled"))
            }
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Confirm TOTP enrolment.
    ///
    /// A first code from the app proves it holds the secret; two-step verification is on from
    /// now and the answer carries ten single-use recovery codes, shown only this once.
    #[oai(path = "/api/users/me/mfa/totp/confirm", method = "post", operation_id = "mfa_totp_confirm")]
    async fn confirm(&self, state: Data<&AppState>, auth: AccountAuth, body: Json<TotpCode>) -> CodesResponse {
        match state.second_factors.confirm_totp(auth.caller.user.id, &body.0.code).await {
            Ok(codes) => {
                record(&state, &auth, kinds::MFA_TOTP_ENROLLED).await;
                CodesResponse::Ok(Json(codes.into()), NO_STORE.to_owned())
            }
            Err(cause) => refuse!(CodesResponse, cause),
        }
    }

    /// Turn TOTP off.
    ///
    /// Needs a current code (or a recovery code); removes the authenticator and every recovery
    /// code. Sign-in asks for the password only afterwards.
    #[oai(path = "/api/users/me/mfa/totp", method = "delete", operation_id = "mfa_totp_disable")]
    async fn disable(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: Json<SecondFactorProof>,
    ) -> DisableResponse {
        let Some(answer) = body.0.answer() else { return DisableResponse::BadRequest(error_wrong_code()) };
        match state.second_factors.disable_totp(auth.caller.user.id, &answer).await {
            Ok(()) => {
                record(&state, &auth, kinds::MFA_TOTP_DISABLED).await;
                DisableResponse::Disabled
            }
            Err(cause) => refuse!(DisableResponse, cause),
        }
    }

    /// New recovery codes.
    ///
    /// Needs a current code (or a recovery code); replaces every recovery code with ten new
    /// ones, shown only this once.
    #[oai(path = "/api/users/me/mfa/recovery-codes", method = "post", operation_id = "mfa_recovery_codes_regenerate")]
    async fn regenerate(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: Json<SecondFactorProof>,
    ) -> CodesResponse {
        let Some(answer) = body.0.answer() else { return CodesResponse::BadRequest(error_wrong_code()) };
        match state.second_factors.regenerate_recovery_codes(auth.caller.user.id, &answer).await {
            Ok(codes) => {
                record(&state, &auth, kinds::MFA_RECOVERY_CODES_REGENERATED).await;
                CodesResponse::Ok(Json(codes.into()), NO_STORE.to_owned())
            }
            Err(cause) => refuse!(CodesResponse, cause),
        }
    }
}
