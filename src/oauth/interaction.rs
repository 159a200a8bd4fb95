//! What an authorization request needs next from the user: a login, a consent, or nothing —
//! then the code is issued (OIDC Core §3.1.2.3–§3.1.2.5). With `prompt=none` no page may be
//! shown, so a missing login or consent becomes an error for the client (§3.1.2.6).

use chrono::{DateTime, Utc};

use super::{
    AuthorizationRequest, AuthorizeError, AuthorizeErrorKind, Client, consent::consent_required,
    pending::PendingAuthorization, scope::Scope, session::OpSession,
};

#[derive(Debug, PartialEq, Eq)]
pub enum NextStep {
    Login,
    Consent,
    IssueCode,
    Fail(AuthorizeError),
}

/// Decides the next step. `session` is the browser's live OP session, if any; `granted` the
/// scope this user already allowed this client.
pub fn next_step(
    request: &AuthorizationRequest,
    client: &Client,
    session: Option<&OpSession>,
    pending: &PendingAuthorization,
    granted: Option<&Scope>,
    now: DateTime<Utc>,
) -> NextStep {
    let signed_in = session.is_some_and(|session| {
        let fresh = pending.fresh_login_sid.as_deref() == Some(session.sid.as_str());
        session.is_live(now)
            && (fresh || (!request.prompt.requires_login() && session.satisfies_max_age(request.max_age, now)))
    });
    if !signed_in {
        return if request.prompt.is_none() {
            NextStep::Fail(request.error(AuthorizeErrorKind::LoginRequired, "the user is not signed in"))
        } else {
            NextStep::Login
        };
    }
    let must_ask =
        !pending.consented && (request.prompt.requires_consent() || consent_required(client, granted, &request.scope));
    if must_ask {
        return if request.prompt.is_none() {
            NextStep::Fail(request.error(AuthorizeErrorKind::ConsentRequired, "the user has not consented"))
        } else {
            NextStep::Consent
        };
    }
    NextStep::IssueCode
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::{
        accounts::UserId,
        oauth::{ClientId, ClientMetadata, ClientType, RedirectUri, validate_authorization_request},
    };

    fn client(first_party: bool) -> Client {
        let mut metadata = ClientMetadata::new("app", ClientType::Confidential);
        metadata.redirect_uris.push(RedirectUri::parse("https://app.example/cb").unwrap());
        metadata.first_party = first_party;
        let now = t0();
        Client {
            id: ClientId::parse("app").unwrap(),
            secret_digest: None,
            registration_token_digest: None,
            metadata,
            created_at: now,
            updated_at: now,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn request(client: &Client, extra: &[(&str, &str)]) -> AuthorizationRequest {
        let mut params: Vec<(String, String)> = [
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        params.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        validate_authorization_request(&params, client).unwrap()
    }

    fn session(auth_time: DateTime<Utc>) -> OpSession {
        OpSession::start(UserId::generate(), vec!["pwd".into()], auth_time).1
    }

    #[test]
    fn without_a_session_the_user_logs_in_or_prompt_none_fails_login_required_oidc_core_3_1_2_6() {
        let client = client(false);
        let now = t0();
        let pending = PendingAuthorization::default();
        assert_eq!(next_step(&request(&client, &[]), &client, None, &pending, None, now), NextStep::Login);
        let NextStep::Fail(error) =
            next_step(&request(&client, &[("prompt", "none")]), &client, None, &pending, None, now)
        else {
            panic!("prompt=none must fail")
        };
        assert_eq!(error.code(), "login_required");
        assert!(error.is_redirectable());
    }

    #[test]
    fn sso_skips_the_login_and_remembered_consent_skips_the_consent() {
        let client = client(false);
        let now = t0();
        let session = session(now - Duration::hours(1));
        let request = request(&client, &[]);
        let pending = PendingAuthorization::default();
        assert_eq!(next_step(&request, &client, Some(&session), &pending, None, now), NextStep::Consent);
        let granted = Scope::parse("openid email profile").unwrap();
        assert_eq!(next_step(&request, &client, Some(&session), &pending, Some(&granted), now), NextStep::IssueCode);
        let narrower = Scope::parse("openid").unwrap();
        assert_eq!(next_step(&request, &client, Some(&session), &pending, Some(&narrower), now), NextStep::Consent);
    }

    #[test]
    fn prompt_login_and_max_age_demand_a_fresh_login_oidc_core_3_1_2_1() {
        let client = client(true);
        let now = t0();
        let old = session(now - Duration::hours(1));
        let pending = PendingAuthorization::default();
        assert_eq!(
            next_step(&request(&client, &[("prompt", "login")]), &client, Some(&old), &pending, None, now),
            NextStep::Login
        );
        assert_eq!(
            next_step(&request(&client, &[("max_age", "600")]), &client, Some(&old), &pending, None, now),
            NextStep::Login
        );
        assert_eq!(
            next_step(&request(&client, &[("max_age", "7200")]), &client, Some(&old), &pending, None, now),
            NextStep::IssueCode
        );
        // After the login page, the fresh session satisfies both.
        let fresh = PendingAuthorization { fresh_login_sid: Some(old.sid.clone()), ..PendingAuthorization::default() };
        assert_eq!(
            next_step(&request(&client, &[("prompt", "login")]), &client, Some(&old), &fresh, None, now),
            NextStep::IssueCode
        );
    }

    #[test]
    fn consent_prompts_and_first_party_clients() {
        let now = t0();
        let session = session(now);
        let pending = PendingAuthorization::default();
        let first_party = client(true);
        assert_eq!(
            next_step(&request(&first_party, &[]), &first_party, Some(&session), &pending, None, now),
            NextStep::IssueCode
        );
        let third_party = client(false);
        let granted = Scope::parse("openid email").unwrap();
        let forced = request(&third_party, &[("prompt", "consent")]);
        assert_eq!(next_step(&forced, &third_party, Some(&session), &pending, Some(&granted), now), NextStep::Consent);
        let answered = PendingAuthorization { consented: true, ..PendingAuthorization::default() };
        assert_eq!(
            next_step(&forced, &third_party, Some(&session), &answered, Some(&granted), now),
            NextStep::IssueCode
        );
        let NextStep::Fail(error) =
            next_step(&request(&third_party, &[("prompt", "none")]), &third_party, Some(&session), &pending, None, now)
        else {
            panic!("prompt=none without consent must fail")
        };
        assert_eq!(error.code(), "consent_required");
    }
}
