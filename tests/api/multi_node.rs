//! Three ferrid processes on one PostgreSQL and one Redis (issue 10 item 1; DESIGN §4: "any node
//! can finish a flow that another started"). A browser and a client hop to another node on
//! every request: the sign-in, the code, SSO, refresh rotation with reuse detection, revocation,
//! key rotation and a rate-limit budget all hold across nodes. Run only when
//! FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL are set (as CI does).

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::oauth::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin_sessions::{Client, register},
    browser::Landing,
    cluster::{Cluster, ISSUER, Node, Roaming, eventually, external_backends_or_skip, http},
    helpers::{Backend, TestResources},
    oidc::{PASSWORD, REDIRECT, authorize_url_at, create_client, create_user},
};

/// A form POST with client_secret_basic to `path` on `node`; the status and the JSON body.
pub async fn post(node: &Node, path: &str, client: &Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response =
        http().post(node.url(path)).basic_auth(&client.0, client.1.as_deref()).form(form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn refresh(node: &Node, client: &Client, refresh_token: &str) -> (StatusCode, Value) {
    post(node, "/token", client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

pub async fn is_active(node: &Node, client: &Client, token: &str) -> bool {
    let (status, body) = post(node, "/introspect", client, &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["active"] == json!(true)
}

/// A client_credentials access token from `node`.
async fn access_token(node: &Node, client: &Client) -> String {
    let (status, body) =
        post(node, "/token", client, &[("grant_type", "client_credentials"), ("scope", "profile")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(index).unwrap()).unwrap()).unwrap()
}

/// Authorize on one node, the login page on the next, and so on (every request on another
/// node), the code redeemed on yet another; SSO seen by a node other than the one that started
/// the session; a reused refresh token kills its family on every node (RFC 9700 §4.14.2); a
/// revocation on one node is seen by introspection on another (RFC 7009 §2.1, RFC 7662 §2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_hops_across_three_nodes_and_its_tokens_live_and_die_on_every_node() {
    if !external_backends_or_skip() {
        return;
    }
    let cluster = Cluster::start(TestResources::create(Backend::External).await, 3, &[]).await;
    let [a, b, c] = &cluster.nodes[..] else { unreachable!() };
    create_user(&cluster.admin, "ann@example.com").await;
    let web = create_client(&cluster.admin, ClientType::Confidential).await;

    // The browser starts on A; every later request goes to the next node.
    let browser = Roaming::new(&cluster.nodes);
    let (url, verifier) = authorize_url_at(ISSUER, &web.0, "openid email offline_access", &[]);
    let (landing, hops) = browser.sign_in(&url, "ann@example.com", PASSWORD).await;
    eprintln!("sign-in across nodes: {:#?}", browser.hops());
    assert!(matches!(landing, Landing::Redirect { .. }), "{landing:?}");
    assert_eq!((hops[0].node, hops[0].path.as_str()), ("A", "/authorize"));
    assert!(hops.windows(2).all(|pair| pair[0].node != pair[1].node), "every request on another node");
    let login = hops.iter().find(|hop| hop.method == "POST" && hop.path == "/login").expect("a login");
    let consent = hops.iter().find(|hop| hop.method == "POST" && hop.path == "/consent").expect("a consent");
    assert!(login.status.is_redirection() && consent.status.is_redirection(), "{hops:?}");
    let issued_by = hops.last().unwrap().node;

    // RFC 6749 §4.1.3: the code, issued by one node, redeemed at another.
    let redeemer = cluster.nodes.iter().find(|node| node.name != issued_by).unwrap();
    let code = landing.code();
    assert_eq!(landing.param("iss").as_deref(), Some(ISSUER), "RFC 9207 §2: one issuer for every node");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = post(redeemer, "/token", &web, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(jwt_part(tokens["id_token"].as_str().unwrap(), 1)["iss"], ISSUER);

    // SSO: the session the login created on one node lets another answer straight with a code.
    let sso_node = cluster.nodes.iter().position(|node| node.name != login.node).unwrap();
    browser.next_on(sso_node);
    let (url, sso_verifier) = authorize_url_at(ISSUER, &web.0, "openid email offline_access", &[]);
    let (sso, sso_hops) = browser.follow(url).await;
    assert!(matches!(sso, Landing::Redirect { .. }), "no login page or consent again: {sso:?}");
    eprintln!("SSO: session from node {}, authorization answered by {:?}", login.node, sso_hops);
    assert_ne!(sso_hops[0].node, login.node);

    // Refresh on A, then the rotated-out token again on B: reuse, the family dies everywhere.
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = refresh(a, &web, first).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let newest = rotated["refresh_token"].as_str().unwrap();
    let (status, reuse) = refresh(b, &web, first).await;
    assert_eq!((status, &reuse["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_grant")), "RFC 9700 §4.14.2");
    for node in [a, b, c] {
        assert_eq!(refresh(node, &web, newest).await.1["error"], "invalid_grant", "family dead on {}", node.name);
        assert!(!is_active(node, &web, newest).await, "RFC 7662 §2.2: inactive on {}", node.name);
        // And the code it came from stays spent (RFC 6749 §4.1.2).
        assert_eq!(post(node, "/token", &web, &form).await.1["error"], "invalid_grant");
    }

    // A second family (from the SSO code): revoked on C, inactive on A.
    let sso_form = [
        ("grant_type", "authorization_code"),
        ("code", &sso.code()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &sso_verifier),
    ];
    let (status, family) = post(b, "/token", &web, &sso_form).await;
    assert_eq!(status, StatusCode::OK, "{family}");
    let (access, refresh_token) = (family["access_token"].as_str().unwrap(), family["refresh_token"].as_str().unwrap());
    assert!(is_active(a, &web, access).await && is_active(a, &web, refresh_token).await);
    let revoke = [("token", refresh_token), ("token_type_hint", "refresh_token")];
    assert_eq!(post(c, "/revoke", &web, &revoke).await.0, StatusCode::OK, "RFC 7009 §2.2");
    for node in [a, b] {
        assert!(!is_active(node, &web, refresh_token).await, "revoked refresh token active on {}", node.name);
        assert!(!is_active(node, &web, access).await, "RFC 7009 §2.1: its access token too, on {}", node.name);
    }

    // An access token on its own: revoked on C, deny-listed on A and B.
    let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile"]).await;
    let (status, issued) =
        post(a, "/token", &service, &[("grant_type", "client_credentials"), ("scope", "profile")]).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let machine = issued["access_token"].as_str().unwrap();
    assert!(is_active(b, &service, machine).await);
    assert_eq!(post(c, "/revoke", &service, &[("token", machine)]).await.0, StatusCode::OK);
    for node in [a, b] {
        assert!(!is_active(node, &service, machine).await, "RFC 7009: deny-listed on {}", node.name);
    }
    cluster.stop().await;
}

/// Keys rotated through the admin API on A: B and C sign with the new keys within
/// FERRID_KEY_REFRESH_SECS (DESIGN §4: all nodes share the ring), and every node still verifies
/// tokens signed with the old ones, which stay in every node's JWKS (RFC 7517; DESIGN §7.6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_on_one_node_sign_on_every_node_within_the_refresh_bound() {
    if !external_backends_or_skip() {
        return;
    }
    const REFRESH: Duration = Duration::from_secs(1);
    let settings = [("FERRID_KEY_REFRESH_SECS", "1")];
    let cluster = Cluster::start(TestResources::create(Backend::External).await, 3, &settings).await;
    let [a, b, c] = &cluster.nodes[..] else { unreachable!() };
    let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile", "ferrid:admin"]).await;
    let old_tokens =
        [access_token(a, &service).await, access_token(b, &service).await, access_token(c, &service).await];
    let old_kid = jwt_part(&old_tokens[0], 0)["kid"].as_str().unwrap().to_owned();

    let form = [("grant_type", "client_credentials"), ("scope", "ferrid:admin")];
    let admin = post(a, "/token", &service, &form).await.1["access_token"].as_str().unwrap().to_owned();
    let alg = jwt_part(&old_tokens[0], 0)["alg"].as_str().unwrap().to_owned();
    let rotated_at = Instant::now();
    let response =
        http().post(a.url("/api/admin/keys/rotate")).bearer_auth(&admin).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ring: Value = response.json().await.unwrap();
    let items = ring["items"].as_array().unwrap();
    let new_kid = items.iter().find(|k| k["alg"] == alg.as_str() && k["state"] == "active").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(jwt_part(&access_token(a, &service).await, 0)["kid"], new_kid.as_str(), "A signs with it at once");

    for node in [b, c] {
        eventually(REFRESH + Duration::from_secs(2), &format!("node {} signs with {new_kid}", node.name), || {
            let (new_kid, service) = (new_kid.clone(), service.clone());
            async move { jwt_part(&access_token(node, &service).await, 0)["kid"] == new_kid.as_str() }
        })
        .await;
    }
    let lag = rotated_at.elapsed();
    eprintln!("key rotation on A: B and C signed with {new_kid} {lag:?} after it (refresh bound {REFRESH:?})");

    for node in [a, b, c] {
        for token in &old_tokens {
            assert!(is_active(node, &service, token).await, "{} verifies a token signed with {old_kid}", node.name);
        }
        let jwks: Value = http().get(node.url("/jwks")).send().await.unwrap().json().await.unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{} publishes both", node.name);
    }
    cluster.stop().await;
}

/// One budget spent across three nodes (DESIGN §7.7): the counter lives in Redis, so the
/// seventh request is refused whichever node it reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_budget_spent_across_nodes_is_shared() {
    if !external_backends_or_skip() {
        return;
    }
    let settings = [("FERRID_RATE_LIMITS", "token_client=6/1m")];
    let cluster = Cluster::start(TestResources::create(Backend::External).await, 3, &settings).await;
    let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile"]).await;
    let mut seen = Vec::new();
    for node in cluster.nodes.iter().cycle().take(9) {
        let response = http()
            .post(node.url("/token"))
            .basic_auth(&service.0, service.1.as_deref())
            .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
            .send()
            .await
            .unwrap();
        let remaining = response.headers().get("ratelimit-remaining").map(|v| v.to_str().unwrap().to_owned());
        seen.push((node.name, response.status().as_u16(), remaining.unwrap_or_default()));
    }
    eprintln!("token_client=6/1m across A, B, C: {seen:?}");
    let statuses: Vec<u16> = seen.iter().map(|(_, status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429], "{seen:?}");
    let remaining: Vec<&str> = seen.iter().take(6).map(|(_, _, left)| left.as_str()).collect();
    assert_eq!(remaining, ["5", "4", "3", "2", "1", "0"], "one count, whichever node answers");
    cluster.stop().await;
}
