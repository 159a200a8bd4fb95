//! The `application/x-www-form-urlencoded` body of an OAuth request. Unlike poem-openapi's
//! `Form`, it knows that some parameters are lists: RFC 8707 §2 lets `resource` appear several
//! times, while every other parameter "MUST NOT be included more than once" (RFC 6749 §3.2).

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::{
    error::ParseRequestPayloadError,
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A form's fields that may repeat; they deserialize as lists.
pub trait ListFields {
    const LIST_FIELDS: &'static [&'static str];
}

pub struct OAuthForm<T>(pub T);

impl<T: Type> Payload for OAuthForm<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(Self::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + ListFields> ParsePayload for OAuthForm<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let bytes = Vec::<u8>::from_request(request, body).await?;
        let fields = collect(&bytes, T::LIST_FIELDS).map_err(|reason| ParseRequestPayloadError { reason })?;
        let form = serde_json::from_value(Value::Object(fields))
            .map_err(|error| ParseRequestPayloadError { reason: error.to_string() })?;
        Ok(Self(form))
    }
}

impl_apirequest_for_payload!(OAuthForm<T>, T: DeserializeOwned + ListFields + Type);

/// The form's pairs as a JSON object: list fields as arrays, every other field once.
fn collect(body: &[u8], lists: &[&str]) -> Result<Map<String, Value>, String> {
    let mut fields = Map::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if lists.contains(&name.as_ref()) {
            let list = fields.entry(name.into_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = list {
                values.push(Value::String(value.into_owned()));
            }
        } else if fields.insert(name.to_string(), Value::String(value.into_owned())).is_some() {
            return Err(format!("parameter {name} is repeated (RFC 6749 §3.2)"));
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_list_fields_repeat_rfc_6749_3_2_and_rfc_8707_2() {
        let fields = collect(b"grant_type=client_credentials&resource=a&resource=b%20c", &["resource"]).unwrap();
        assert_eq!(Value::Object(fields), json!({"grant_type": "client_credentials", "resource": ["a", "b c"]}));
        assert!(collect(b"scope=a&scope=b", &["resource"]).unwrap_err().contains("scope is repeated"));
        assert_eq!(Value::Object(collect(b"", &["resource"]).unwrap()), json!({}));
    }
}
