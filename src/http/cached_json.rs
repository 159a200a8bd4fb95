//! A JSON response body serialised ahead of time (discovery, JWKS): served as stored bytes,
//! documented in OpenAPI with the schema of `T`.

use std::{marker::PhantomData, sync::Arc};

use poem::{IntoResponse, Response, http::header};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};

pub struct CachedJson<T> {
    body: Arc<str>,
    schema: PhantomData<fn() -> T>,
}

impl<T> CachedJson<T> {
    pub fn new(body: Arc<str>) -> Self {
        Self { body, schema: PhantomData }
    }
}

impl<T: Type> Payload for CachedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for CachedJson<T> {
    fn into_response(self) -> Response {
        Response::builder().header(header::CONTENT_TYPE, "application/json").body(self.body.as_bytes().to_vec())
    }
}

impl<T: Type> ApiResponse for CachedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
