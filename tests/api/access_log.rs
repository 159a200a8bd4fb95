//! The JSON access log of `ferrid serve` (issue 10 item 3): one line per request with its id,
//! method, route template, status, latency, client address and — where a client authenticated —
//! its client_id; and never a secret: no client secret, password, code or token, from headers,
//! query strings or bodies (DESIGN §7.3).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestResources},
    serve_process::{create_service_client, serve},
};

const PASSWORD: &str = "correct-horse-battery-staple-9";
const CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";

fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .filter(|line| line["target"] == "ferrid::access")
        .collect()
}

fn line_for<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no access line for {request_id} in {lines:#?}"))
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_request_is_one_json_line_with_route_status_latency_and_client_and_no_secret() {
    let resources = TestResources::create(Backend::Embedded).await;
    let (client_id, secret) = create_service_client(&resources);
    // The test client stands in for a trusted load balancer (issue 10 item 4).
    let server = serve(&resources, &[("FERRID_LOG_FORMAT", "json"), ("FERRID_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let http = reqwest::Client::new();

    let response = http
        .post(server.url("/token"))
        .header("X-Forwarded-For", "203.0.113.9")
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token_request = request_id(&response);
    let access_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    let response = http
        .post(server.url("/introspect"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let introspection = request_id(&response);

    // A query string with a code in it, from an unregistered client: the claimed id is not logged.
    let response = http
        .get(server.url(&format!("/authorize?client_id=mallory&response_type=code&code={CODE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let authorization = request_id(&response);

    let response = http
        .post(server.url("/api/auth/login"))
        .header("X-Requested-With", "test")
        .json(&json!({ "email": "ann@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = http.get(server.url("/no-such-page/5d41402abc4b2a76")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let unmatched = request_id(&response);

    let log = server.stop_gracefully().await;
    let lines = access_lines(&log);

    let token = line_for(&lines, &token_request);
    assert_eq!(token["level"], "INFO");
    assert_eq!(token["method"], "POST");
    assert_eq!(token["route"], "/token");
    assert_eq!(token["status"], 200);
    assert!(token["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{token}");
    assert_eq!(token["client_id"], client_id.as_str());
    assert_eq!(token["client_ip"], "203.0.113.9");
    assert_eq!(token["peer"], "127.0.0.1");

    let introspect = line_for(&lines, &introspection);
    assert_eq!((&introspect["route"], &introspect["client_id"]), (&json!("/introspect"), &json!(client_id)));
    assert_eq!(introspect["client_ip"], "127.0.0.1");

    let authorize = line_for(&lines, &authorization);
    assert_eq!((&authorize["route"], &authorize["status"]), (&json!("/authorize"), &json!(400)));
    assert!(authorize.get("client_id").is_none(), "{authorize}");

    // Unknown paths share one route value; the raw path is not logged.
    assert_eq!(line_for(&lines, &unmatched)["route"], "unmatched");
    assert!(lines.iter().any(|line| line["route"] == "/api/auth/login" && line["status"] == 401), "{lines:#?}");

    for secret in [secret.as_str(), access_token.as_str(), PASSWORD, CODE, "5d41402abc4b2a76"] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
    assert!(!log.to_ascii_lowercase().contains("authorization: basic"), "{log}");
}
