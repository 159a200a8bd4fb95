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
