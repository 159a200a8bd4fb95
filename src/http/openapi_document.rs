//! The OpenAPI document ferrid serves at /openapi.json, shows at /swagger and commits under
//! openapi/: poem-openapi's document plus the answers the framework layer gives before a
//! handler runs. poem-openapi declares only each operation's own responses, yet a body in
//! another media type is refused with 415, an unparsable parameter or body with 400 and an
//! oversized body with 413 — all as [`ErrorBody`](super::error::ErrorBody) by
//! `error::framework_error_response`. A document that omits them is wrong for every client
//! (and for schemathesis' status code conformance check, issue 8 item 7).

use serde_json::{Map, Value, json};

/// What the framework answers, and when: on any operation with parameters or a body, or only on
/// those with a body.
const FRAMEWORK_ERRORS: [(&str, &str, bool); 3] = [
    ("400", "A parameter or the request body cannot be read (`invalid_request`).", false),
    ("413", "The request body is larger than the limit (`request_too_large`).", true),
    ("415", "The request body is not in a media type this operation accepts (`unsupported_media_type`).", true),
];

/// `spec` (poem-openapi's JSON document) with the framework's error responses added to every
/// operation that can get them and does not already declare that status.
pub fn with_framework_errors(spec: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else { return spec.to_owned() };
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            if let Some(operation) = operation.as_object_mut() {
                add_framework_errors(operation);
            }
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_owned())
}

fn add_framework_errors(operation: &mut Map<String, Value>) {
    let has_body = operation.contains_key("requestBody");
    let has_parameters = operation.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, description, body_only) in FRAMEWORK_ERRORS {
        let applies = if body_only { has_body } else { has_body || has_parameters };
        if applies && !responses.contains_key(status) {
            responses.insert(
                status.to_owned(),
                json!({
                    "description": description,
                    "content": {
                        "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } }
                    }
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_only_the_statuses_an_operation_can_get_and_keeps_declared_ones() {
        let spec = json!({"paths": {
            "/a": {"post": {"requestBody": {}, "responses": {"200": {}, "400": {"description": "own"}}}},
            "/b": {"get": {"parameters": [{"name": "q"}], "responses": {"200": {}}}},
            "/c": {"get": {"responses": {"200": {}}}}
        }});
        let out: Value = serde_json::from_str(&with_framework_errors(&spec.to_string())).unwrap_or_default();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            out["paths"][path][method]["responses"].as_object().map(|r| r.keys().cloned().collect()).unwrap_or_default()
        };
        assert_eq!(statuses("/a", "post"), ["200", "400", "413", "415"]);
        assert_eq!(out["paths"]["/a"]["post"]["responses"]["400"]["description"], "own");
        assert_eq!(statuses("/b", "get"), ["200", "400"]);
        assert_eq!(statuses("/c", "get"), ["200"]);
    }
}
