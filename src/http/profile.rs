//! `/api/users/me`: the signed-in user's profile, with roles, groups and permissions; edits to
//! it; a change of address proved by a code mailed to the new one; a change of password. Bearer
//! tokens of ferrid's own applications only ([`AccountAuth`]). Thin: the flows are
//! `oauth::profile`.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query},
};
use poem_openapi::{
    Object, OpenApi,
    payload::Json,
    types::{Example, MaybeUndefined},
};
use serde::Deserialize;

use super::{
    admin_auth::guarded_response,
    cookies::{csrf_token, csrf_valid, with_csrf_cookie},
    error::{ErrorBody, NO_STORE, temporarily_unavailable},
    pages::{self, Notice, Ui},
    request_context::origin_of,
    tags::ApiTags,
    user_auth::AccountAuth,
};
use crate::{
    accounts::{Password, ProfileEdit, User, UserAuthorization},
    app::AppState,
    audit::Actor,
    oauth::profile::{self, ProfileFlowError},
};

/// One of the user's groups and the permissions it grants.
#[derive(Object)]
struct GroupView {
    name: String,
    permissions: Vec<String>,
}

/// The signed-in user's account.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
struct Profile {
    /// The user's id (UUID), also the `sub` of their tokens.
    id: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
    phone: Option<String>,
    /// An absolute https URL.
    picture: Option<String>,
    /// A BCP 47 language tag.
    locale: Option<String>,
    roles: Vec<String>,
    groups: Vec<GroupView>,
}

impl Profile {
    fn new(user: User, authorization: UserAuthorization) -> Self {
        let mut granted = authorization.group_permissions;
        let groups = authorization
            .groups
            .into_iter()
            .map(|name| GroupView { permissions: granted.remove(&name).unwrap_or_default(), name })
            .collect();
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            email_verified: user.email_verified,
            name: user.name,
            phone: user.phone,
            picture: user.picture,
            locale: user.locale,
            roles: authorization.roles,
            groups,
        }
    }
}

impl Example for Profile {
    fn example() -> Self {
        Self {
            id: "01935c8e-7a4b-7cc2-9a41-2f1d0c3b9e77".to_owned(),
            email: "ann@example.com".to_owned(),
            email_verified: true,
            name: Some("Ann Lee".to_owned()),
            phone: Some("+1 555 010 0000".to_owned()),
            picture: Some("https://cdn.example.com/ann.png".to_owned()),
            locale: Some("en-GB".to_owned()),
            roles: vec!["admin".to_owned()],
            groups: vec![GroupView { name: "billing".to_owned(), permissions: vec!["invoices:read".to_owned()] }],
        }
    }
}

/// Profile changes: absent fields stay as they are, `null` clears one.
#[derive(Object)]
#[oai(example)]
struct ProfilePatch {
    /// Display name (at most 200 characters).
    name: MaybeUndefined<String>,
    /// Phone number (at most 32 characters; digits, optionally `+`, spaces, dashes, dots, parentheses).
    phone: MaybeUndefined<String>,
    /// An absolute https URL (http only for loopback hosts), at most 2048 characters.
    picture: MaybeUndefined<String>,
    /// A BCP 47 language tag such as `en` or `pt-BR`.
    locale: MaybeUndefined<String>,
}

impl Example for ProfilePatch {
    fn example() -> Self {
        Self {
            name: MaybeUndefined::Value("Ann Lee".to_owned()),
            phone: MaybeUndefined::Null,
            picture: MaybeUndefined::Undefined,
            locale: MaybeUndefined::Value("en-GB".to_owned()),
        }
    }
}

fn edit(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

/// A new address, with the current password as proof that the account holder asks.
#[derive(Object)]
#[oai(example)]
struct EmailChange {
    new_email: String,
    #[oai(write_only)]
    current_password: String,
}

impl Example for EmailChange {
    fn example() -> Self {
        Self {
            new_email: "ann.lee@example.org".to_owned(),
            current_password: "correct horse battery staple".to_owned(),
        }
    }
}

/// The 6-digit code mailed to the new address.
#[derive(Object)]
#[oai(example)]
struct EmailCode {
    code: String,
}

impl Example for EmailCode {
    fn example() -> Self {
        Self { code: "493817".to_owned() }
    }
}

#[derive(Object)]
#[oai(example)]
struct PasswordChange {
    #[oai(write_only)]
    current_password: String,
    /// At least 10 characters, not a common password, not containing the email's local part.
    #[oai(write_only)]
    new_password: String,
}

impl Example for PasswordChange {
    fn example() -> Self {
        Self {
            current_password: "correct horse battery staple".to_owned(),
            new_password: "a brand new passphrase 42".to_owned(),
        }
    }
}

/// The answer to an address change, the same whether or not the address is free.
#[derive(Object)]
#[oai(example)]
struct ChangeAccepted {
    message: String,
}

impl Example for ChangeAccepted {
    fn example() -> Self {
        Self { message: EMAIL_CHANGE_ACCEPTED.to_owned() }
    }
}

const EMAIL_CHANGE_ACCEPTED: &str =
    "Check the new address: we sent it a code and a link. The address changes once it is confirmed.";

guarded_response! {
    enum ProfileResponse {
        /// The profile.
        #[oai(status = 200)]
        Ok(Json<Profile>, #[oai(header = "Cache-Control")] String),
        /// `invalid_request` (a field out of its limits or shape), `invalid_code` (wrong, expired
        /// or used up).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// `conflict`: the new address was taken after the code was sent.
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum EmailChangeResponse {
        /// A code and a link are on their way to the new address, unless it belongs to another
        /// account: the answer is the same (no enumeration).
        #[oai(status = 202)]
        Accepted(Json<ChangeAccepted>, #[oai(header = "Cache-Control")] String),
        /// `invalid_request` (a malformed address, or the current one) or `wrong_password`.
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum PasswordChangeResponse {
        /// Changed; every other session and refresh token of the user is revoked.
        #[oai(status = 204)]
        Changed,
        /// `wrong_password`, `weak_password` or `invalid_request`.
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

fn error(code: &str, description: impl ToString) -> Json<ErrorBody> {
    Json(ErrorBody { error: code.to_owned(), error_description: Some(description.to_string()), request_id: None })
}

/// The error code of a refusal the client can fix; `None` for a store failure (503).
fn classify(error: &ProfileFlowError) -> Option<&'static str> {
    match error {
        ProfileFlowError::Invalid(_) | ProfileFlowError::InvalidEmail(_) | ProfileFlowError::SameEmail => {
            Some("invalid_request")
        }
        ProfileFlowError::WrongPassword => Some("wrong_password"),
        ProfileFlowError::WeakPassword(_) => Some("weak_password"),
        ProfileFlowError::InvalidCode => Some("invalid_code"),
        ProfileFlowError::EmailTaken => Some("conflict"),
        ProfileFlowError::Unavailable(_) => None,
    }
}

macro_rules! refusals {
    ($($response:ident),+) => {$(
        impl From<ProfileFlowError> for $response {
            fn from(error: ProfileFlowError) -> Self {
                match classify(&error) {
                    Some(code) => Self::BadRequest(self::error(code, &error)),
                    None => Self::Unavailable(temporarily_unavailable(&error)),
                }
            }
        }
    )+};
}

refusals!(EmailChangeResponse, PasswordChangeResponse);

impl From<ProfileFlowError> for ProfileResponse {
    fn from(error: ProfileFlowError) -> Self {
        match classify(&error) {
            Some("conflict") => Self::Conflict(self::error("conflict", &error)),
            Some(code) => Self::BadRequest(self::error(code, &error)),
            None => Self::Unavailable(temporarily_unavailable(&error)),
        }
    }
}

async fn respond_with_profile(state: &AppState, user: Result<User, ProfileFlowError>) -> ProfileResponse {
    match async { profile::profile(state, user?).await }.await {
        Ok((user, authorization)) => ProfileResponse::Ok(Json(Profile::new(user, authorization)), NO_STORE.to_owned()),
        Err(error) => error.into(),
    }
}

pub struct ProfileApi;

#[OpenApi(tag = "ApiTags::Account")]
impl ProfileApi {
    /// Your profile.
    ///
    /// The signed-in user's id, address, profile fields, roles, and groups with the permissions
    /// each grants.
    #[oai(path = "/api/users/me", method = "get", operation_id = "get_my_profile")]
    async fn get(&self, state: Data<&AppState>, auth: AccountAuth) -> ProfileResponse {
        respond_with_profile(&state, Ok(auth.caller.user)).await
    }

    /// Edit your profile.
    ///
    /// Changes the fields sent: `null` clears one, an absent field stays. The address changes
    /// through `POST /api/users/me/email` instead.
    #[oai(path = "/api/users/me", method = "patch", operation_id = "update_my_profile")]
    async fn update(&self, state: Data<&AppState>, auth: AccountAuth, body: Json<ProfilePatch>) -> ProfileResponse {
        let ProfilePatch { name, phone, picture, locale } = body.0;
        let edit = ProfileEdit { name: edit(name), phone: edit(phone), picture: edit(picture), locale: edit(locale) };
        respond_with_profile(&state, profile::update(&state, &auth.caller.user, edit, &auth.actor).await).await
    }

    /// Change your email address.
    ///
    /// Checks the current password, then mails a 6-digit code and a link to the new address,
    /// valid 10 minutes. The address changes only once the code is confirmed with
    /// `POST /api/users/me/email/verify` (or the link is followed). If another account has the
    /// address, nothing is sent and the answer is the same.
    #[oai(path = "/api/users/me/email", method = "post", operation_id = "change_my_email")]
    async fn change_email(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: Json<EmailChange>,
    ) -> EmailChangeResponse {
        let EmailChange { new_email, current_password } = body.0;
        let password = Password::new(current_password);
        match profile::request_email_change(&state, &auth.caller.user, &new_email, password, &auth.actor).await {
            Ok(()) => EmailChangeResponse::Accepted(
                Json(ChangeAccepted { message: EMAIL_CHANGE_ACCEPTED.to_owned() }),
                NO_STORE.to_owned(),
            ),
            Err(error) => error.into(),
        }
    }

    /// Confirm your new email address.
    ///
    /// With the code mailed to the new address: the account takes it, verified. A code works
    /// once; wrong guesses use up its 5 attempts.
    #[oai(path = "/api/users/me/email/verify", method = "post", operation_id = "verify_my_new_email")]
    async fn verify_email(&self, state: Data<&AppState>, auth: AccountAuth, body: Json<EmailCode>) -> ProfileResponse {
        let changed = profile::confirm_email_change(&state, &auth.caller.user, &body.0.code, &auth.actor).await;
        respond_with_profile(&state, changed).await
    }

    /// Change your password.
    ///
    /// Checks the current password and the new one against the policy, sets it, and signs out
    /// every other session and application of the user; the session making the request stays.
    #[oai(path = "/api/users/me/password", method = "post", operation_id = "change_my_password")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: Json<PasswordChange>,
    ) -> PasswordChangeResponse {
        let PasswordChange { current_password, new_password } = body.0;
        let (user, sid) = (&auth.caller.user, auth.caller.sid.as_deref());
        let (current, new) = (Password::new(current_password), Password::new(new_password));
        match profile::change_password(&state, user, sid, current, new, &auth.actor).await {
            Ok(_) => PasswordChangeResponse::Changed,
            Err(error) => error.into(),
        }
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// `GET /account/email/confirm?token=…`: the mailed link shows a button rather than changing the
/// address at once, so a mail scanner that follows links does not use it up.
#[handler]
pub async fn confirm_email_page(request: &Request, state: Data<&AppState>, Query(query): Query<LinkQuery>) -> Response {
    let (csrf, new_csrf) = csrf_token(request);
    let ui = Ui::of(request, &state.config.brand);
    let page = pages::confirm_link(&ui, &pages::CONFIRM_EMAIL_CHANGE, &query.token.unwrap_or_default(), &csrf);
    with_csrf_cookie(page, &csrf, new_csrf, state.config.issuer.is_https())
}

#[derive(Deserialize)]
pub struct LinkForm {
    csrf: String,
    token: String,
}

#[handler]
pub async fn confirm_email_submit(request: &Request, state: Data<&AppState>, Form(form): Form<LinkForm>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&ui);
    }
    let actor = Actor { user: None, client_id: None, origin: origin_of(request) };
    match profile::confirm_email_change_link(&state, &form.token, &actor).await {
        Ok(user) => pages::signed_out(&ui, &Notice::new("email_changed").with("email", user.email.to_string())),
        Err(ProfileFlowError::Unavailable(cause)) => {
            tracing::error!(%cause, "email change link failed");
            pages::unavailable(&ui, StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(error) => {
            let notice = match error {
                ProfileFlowError::EmailTaken => Notice::new("email_change_taken"),
                _ => Notice::new("email_change_link_dead"),
            };
            pages::error(&ui, StatusCode::BAD_REQUEST, &notice, Some("invalid_code"))
        }
    }
}
