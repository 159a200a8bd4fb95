//! OpenID Connect Back-Channel Logout 1.0: a relying party's back-channel endpoint (a real
//! listener here) receives a signed Logout Token when the user's session at ferrid ends.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::{
    clock::SystemClock,
    oauth::{
        ClientMetadata, ClientType, GrantType, RedirectUri,
        backchannel_logout::{BackchannelNotifier, DeliveryPolicy},
    },
};
use keys::{Jwks, SigningAlg, Validation};
use poem::{
    EndpointExt, Route, Server,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, TestResources, start_app_adjusted},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
};

on_every_backend!(
    rp_initiated_logout_sends_a_signed_logout_token_backchannel_logout_2_4,
    a_failing_rp_is_retried_without_delaying_the_logout_backchannel_logout_2_5,
    ending_sessions_tells_each_client_of_each_session_of_that_user_only_backchannel_logout_2_5,
);

/// One POST the relying party received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    content_type: String,
    token: String,
    answered: u16,
}

#[derive(Clone)]
struct Endpoint {
    sender: mpsc::UnboundedSender<Received>,
    /// How many of the next requests are answered 500, after `slow`.
    failures: Arc<AtomicUsize>,
    slow: Duration,
}

#[poem::handler]
async fn receive(request: &poem::Request, body: poem::Body, endpoint: Data<&Endpoint>) -> StatusCode {
    let content_type = request.header("content-type").unwrap_or_default().to_owned();
    let bytes = body.into_vec().await.unwrap();
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let fail = endpoint.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = if fail {
        tokio::time::sleep(endpoint.slow).await;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let path = request.uri().path().to_owned();
    let _ = endpoint.sender.send(Received { path, content_type, token, answered: status.as_u16() });
    status
}

/// A relying party's back-channel logout endpoint on 127.0.0.1.
struct RelyingParty {
    base: String,
    received: Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl RelyingParty {
    async fn start(failures: usize, slow: Duration) -> Self {
        let (sender, received) = mpsc::unbounded_channel();
        let endpoint = Endpoint { sender, failures: Arc::new(AtomicUsize::new(failures)), slow };
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let base = format!("http://{}", acceptor.local_addr()[0].as_socket_addr().unwrap());
        let route = Route::new().at("/*path", poem::post(receive)).data(endpoint);
        tokio::spawn(Server::new_with_acceptor(acceptor).run(route));
        Self { base, received: Mutex::new(received) }
    }

    fn uri(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    /// The next POST, if one arrives within `within`.
    async fn next(&self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.received.lock().await.recv()).await.ok().flatten()
    }

    /// The next `count` successful deliveries, failing the test if they do not come.
    async fn delivered(&self, count: usize) -> Vec<Received> {
        let mut delivered = Vec::new();
        while delivered.len() < count {
            let received = self.next(Duration::from_secs(10)).await.expect("a logout token");
            if received.answered == 200 {
                delivered.push(received);
            }
        }
        delivered
    }
}

/// ferrid with quick back-channel retries.
async fn spawn_app(backend: Backend, timeout: Duration) -> TestApp {
    let policy = DeliveryPolicy { delays: vec![Duration::ZERO, Duration::from_millis(100)], timeout };
    start_app_adjusted(TestResources::create(backend).await, &[], Arc::new(SystemClock), |state| {
        state.backchannel = BackchannelNotifier::new(policy).unwrap();
    })
    .await
    .unwrap()
}

/// Registers a confidential client whose back-channel logout endpoint is `uri`.
async fn create_client(app: &TestApp, uri: Option<url::Url>) -> (String, String) {
    let mut metadata = ClientMetadata::new("Back-channel RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    metadata.backchannel_logout_session_required = uri.is_some();
    metadata.backchannel_logout_uri = uri;
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    (client.id.as_str().to_owned(), secret.unwrap().expose().to_owned())
}

/// Signs `email` in at `client` in `browser` (or uses its session) and redeems the code.
async fn sign_in(app: &TestApp, browser: &Browser, client: &(String, String), email: &str) -> Value {
    let (url, verifier) = authorize_url(app, &client.0, "openid offline_access", &[]);
    let code = browser.sign_in(&url, email, PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let response = app.http.post(app.url("/token")).basic_auth(&client.0, Some(&client.1)).form(&form);
    response.send().await.unwrap().json().await.unwrap()
}

/// The claims of a JWT, unverified (the ID tokens here come straight from /token).
fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn id_claims(tokens: &Value) -> Value {
    payload(tokens["id_token"].as_str().unwrap())
}

async fn logout_with_hint(app: &TestApp, browser: &Browser, tokens: &Value) -> reqwest::Response {
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", tokens["id_token"].as_str().unwrap());
    let response = browser.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK, "signed out");
    response
}

async fn rp_initiated_logout_sends_a_signed_logout_token_backchannel_logout_2_4(backend: Backend) {
    let app = spawn_app(backend, Duration::from_secs(5)).await;
    let rp = RelyingParty::start(0, Duration::ZERO).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, Some(rp.uri("/backchannel"))).await;
    let browser = Browser::new(&app.address);
    let tokens = sign_in(&app, &browser, &client, "ann@example.com").await;
    let id_token = id_claims(&tokens);

    logout_with_hint(&app, &browser, &tokens).await;
    let [received] = rp.delivered(1).await.try_into().unwrap();
    assert_eq!(received.path, "/backchannel");
    // §2.5: an application/x-www-form-urlencoded POST with the `logout_token` parameter.
    assert_eq!(received.content_type, "application/x-www-form-urlencoded");

    // §2.6: the RP validates it like an ID token, against the OP's published keys.
    let jwks = Jwks::from_json(&app.get("/jwks").await.text().await.unwrap()).unwrap();
    let validation = Validation::new(&[SigningAlg::RS256], app.state.clock.now()).with_typ("logout+jwt");
    let claims = keys::verify_jwt(&received.token, &jwks.verifying_keys(SigningAlg::RS256), &validation).unwrap();
    let header = payload(&format!("x.{}", received.token.split('.').next().unwrap()));
    assert_eq!(header["typ"], "logout+jwt", "§2.4 explicit typing");

    // §2.4: iss, aud, iat, exp, jti, events, sub and sid — and never a nonce.
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], client.0.as_str());
    assert_eq!(claims["events"], json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
    assert_eq!(claims["sub"], id_token["sub"]);
    assert!(id_token["sid"].is_string());
    assert_eq!(claims["sid"], id_token["sid"], "the session of the ID token");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(iat < exp && exp - iat <= 300, "short-lived: {iat}..{exp}");
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
    assert!(!claims.contains_key("nonce"), "§2.4: a Logout Token must not contain a nonce");

    // Logged out once: no second token (the refresh family and the record name the same client).
    assert!(rp.next(Duration::from_millis(500)).await.is_none());
    app.stop().await;
}

async fn a_failing_rp_is_retried_without_delaying_the_logout_backchannel_logout_2_5(backend: Backend) {
    let app = spawn_app(backend, Duration::from_secs(5)).await;
    // The first attempt takes 2 s and fails with 500.
    let rp = RelyingParty::start(1, Duration::from_secs(2)).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, Some(rp.uri("/backchannel"))).await;
    let browser = Browser::new(&app.address);
    let tokens = sign_in(&app, &browser, &client, "ann@example.com").await;

    let started = Instant::now();
    logout_with_hint(&app, &browser, &tokens).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "the logout waited for the RP: {:?}", started.elapsed());

    let first = rp.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.answered, 500);
    let retry = rp.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(retry.answered, 200, "the retry arrives");
    assert_eq!(payload(&retry.token)["sid"], id_claims(&tokens)["sid"]);
    assert!(rp.next(Duration::from_millis(500)).await.is_none(), "no attempt after success");
    // One delivery, counted once for its final outcome whatever the attempts.
    let metrics = app.state.metrics.encode().unwrap();
    let delivered = r#"ferrid_backchannel_logout_deliveries_total{outcome="delivered"}"#;
    assert_eq!(crate::metrics::value(&metrics, delivered), Some(1.0), "{metrics}");
    let failed = r#"ferrid_backchannel_logout_deliveries_total{outcome="failed"}"#;
    assert_eq!(crate::metrics::value(&metrics, failed), None, "{metrics}");
    for token in ["access", "id"] {
        let issued = format!(r#"ferrid_tokens_issued_total{{grant_type="authorization_code",token="{token}"}}"#);
        assert_eq!(crate::metrics::value(&metrics, &issued), Some(1.0), "{metrics}");
    }
    app.stop().await;
}

async fn ending_sessions_tells_each_client_of_each_session_of_that_user_only_backchannel_logout_2_5(backend: Backend) {
    let app = spawn_app(backend, Duration::from_secs(5)).await;
    let rp = RelyingParty::start(0, Duration::ZERO).await;
    create_user(&app, "ann@example.com").await;
    create_user(&app, "bo@example.com").await;
    let mail = create_client(&app, Some(rp.uri("/mail"))).await;
    let chat = create_client(&app, Some(rp.uri("/chat"))).await;
    let quiet = create_client(&app, None).await;

    // Ann: the laptop signs in to mail, chat (SSO) and a client without a back channel; the phone
    // to mail. Bo signs in to both from his own browser.
    let laptop = Browser::new(&app.address);
    let laptop_sid =
        id_claims(&sign_in(&app, &laptop, &mail, "ann@example.com").await)["sid"].as_str().unwrap().to_owned();
    sign_in(&app, &laptop, &chat, "ann@example.com").await;
    sign_in(&app, &laptop, &quiet, "ann@example.com").await;
    let phone = Browser::new(&app.address);
    let ann = id_claims(&sign_in(&app, &phone, &mail, "ann@example.com").await);
    let phone_sid = ann["sid"].as_str().unwrap().to_owned();
    let bo = Browser::new(&app.address);
    sign_in(&app, &bo, &mail, "bo@example.com").await;
    sign_in(&app, &bo, &chat, "bo@example.com").await;
    assert!(rp.next(Duration::from_millis(300)).await.is_none(), "signing in tells nobody");

    let seen = |received: Vec<Received>| -> BTreeSet<(String, String, String)> {
        received
            .into_iter()
            .map(|r| {
                let claims = payload(&r.token);
                assert_eq!(claims["sub"], ann["sub"], "only Ann's clients are told");
                (r.path, claims["aud"].as_str().unwrap().to_owned(), claims["sid"].as_str().unwrap().to_owned())
            })
            .collect()
    };

    // End the phone's session from the laptop: mail hears of the phone's session.
    let ended = laptop.http.delete(app.url(&format!("/api/me/sessions/{phone_sid}"))).send().await.unwrap();
    assert_eq!(ended.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(seen(rp.delivered(1).await), BTreeSet::from([("/mail".into(), mail.0.clone(), phone_sid.clone())]));
    assert!(rp.next(Duration::from_millis(300)).await.is_none());

    // Log out everywhere: each client of the laptop's session, and mail again for the phone's
    // refresh family, which is revoked now.
    let response = laptop.http.post(app.url("/api/me/logout-all")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let expected = BTreeSet::from([
        ("/mail".into(), mail.0.clone(), laptop_sid.clone()),
        ("/chat".into(), chat.0.clone(), laptop_sid.clone()),
        ("/mail".into(), mail.0.clone(), phone_sid.clone()),
    ]);
    assert_eq!(seen(rp.delivered(3).await), expected);
    assert!(rp.next(Duration::from_millis(500)).await.is_none(), "nothing for Bo, nothing twice");
    app.stop().await;
}
