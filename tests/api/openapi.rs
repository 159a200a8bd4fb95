//! The committed OpenAPI document must equal the one generated from the code.

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = ferrid::http::openapi_document();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date; regenerate it with:\n    cargo run -q -- openapi > openapi/openapi.json"
    );
}

/// Operations that cannot fail on the client's account, so have no 4xx to document.
const NO_CLIENT_ERRORS: &[(&str, &str, &str)] = &[
    ("get", "/.well-known/openid-configuration", "a static document built at start-up; takes no input"),
    ("get", "/jwks", "public keys; `If-None-Match` is optional and any value is acceptable"),
    ("get", "/health", "liveness; takes no input"),
    ("get", "/ready", "readiness; takes no input, answers 200 or 503"),
    ("get", "/metrics", "unauthenticated scrape (kept off the public network); takes no input"),
];

/// DESIGN §1: a developer gets a complete, accurate document. Every operation has a summary,
/// a description, a described response with a schema for each status, and (unless listed
/// above with its reason) its client errors (invariant 4: every bad input gets a clear 4xx).
#[test]
fn every_operation_is_documented() {
    let document: serde_json::Value = serde_json::from_str(&ferrid::http::openapi_document()).unwrap();
    let mut problems = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            for field in ["summary", "description"] {
                if operation[field].as_str().is_none_or(|text| text.trim().is_empty()) {
                    problems.push(format!("{name}: no {field}"));
                }
            }
            let responses = operation["responses"].as_object().unwrap();
            let exempt = NO_CLIENT_ERRORS.iter().any(|(m, p, _)| m == method && p == path);
            if !exempt && !responses.keys().any(|status| status.starts_with('4')) {
                problems.push(format!("{name}: no 4xx response"));
            }
            for (status, response) in responses {
                if response["description"].as_str().is_none_or(|text| text.trim().is_empty()) {
                    problems.push(format!("{name}: response {status} has no description"));
                }
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if content.get("schema").is_none() {
                        problems.push(format!("{name}: response {status} {media} has no schema"));
                    }
                }
            }
            for (media, content) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
                if content.get("schema").is_none() {
                    problems.push(format!("{name}: request body {media} has no schema"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "undocumented parts of the OpenAPI document:\n  {}", problems.join("\n  "));
}

/// Swagger's Authorize runs ferrid's own authorization code flow; the URLs are relative to the
/// server (OpenAPI 3.0 §4.7.1) so the committed document does not depend on the issuer.
#[test]
fn the_document_declares_ferrids_own_oauth_flow_for_the_admin_api() {
    let document: serde_json::Value = serde_json::from_str(&ferrid::http::openapi_document()).unwrap();
    let schemes = &document["components"]["securitySchemes"];
    let flow = &schemes["FerridOAuth"]["flows"]["authorizationCode"];
    assert_eq!(flow["authorizationUrl"], "/authorize");
    assert_eq!(flow["tokenUrl"], "/token");
    assert!(flow["scopes"]["ferrid:admin"].is_string());
    assert_eq!(schemes["AdminBearer"]["scheme"], "bearer");
    let list = &document["paths"]["/api/admin/users/{user_id}/sessions"]["get"]["security"];
    assert_eq!(list, &serde_json::json!([{"AdminBearer": []}, {"FerridOAuth": []}]));
    let mine = &document["paths"]["/api/me/sessions"]["get"]["security"];
    assert_eq!(mine, &serde_json::json!([{"FerridSession": []}]));
}

/// Issue 7: every first-party endpoint shows an example request and answer in Swagger.
#[test]
fn the_first_party_api_has_examples() {
    let document: serde_json::Value = serde_json::from_str(&ferrid::http::openapi_document()).unwrap();
    let schemas = &document["components"]["schemas"];
    let has_example = |schema: &serde_json::Value| match schema["$ref"].as_str() {
        Some(reference) => schemas[reference.rsplit('/').next().unwrap()].get("example").is_some(),
        None => schema.get("example").is_some(),
    };
    let mut missing = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        if !["/api/account", "/api/auth", "/api/users", "/api/password"].iter().any(|p| path.starts_with(p)) {
            continue;
        }
        for (method, operation) in operations.as_object().unwrap() {
            let bodies = operation["requestBody"]["content"].as_object().into_iter().flatten();
            let answers = operation["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .flat_map(|(_, response)| response["content"].as_object().into_iter().flatten());
            for (media, content) in bodies.chain(answers) {
                if !has_example(&content["schema"]) {
                    missing.push(format!("{} {path} ({media})", method.to_uppercase()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "without an example: {missing:?}");
}
