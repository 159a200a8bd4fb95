//! `GET /assets/ferrid.css`: the one stylesheet of every page, the brand colour prepended. Pages
//! link it as `/assets/ferrid.css?v=<version>`, the version naming both the stylesheet's content
//! and the colour, so it can be cached for a year (`immutable`) and still change on a deploy.

use std::sync::LazyLock;

use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::Data,
};

use crate::{app::AppState, branding::Branding};

const SOURCE: &str = include_str!("assets/ferrid.css");

/// A year: the URL changes whenever the content does.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

static SOURCE_DIGEST: LazyLock<String> = LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA256, SOURCE.as_bytes());
    digest.as_ref()[..6].iter().map(|byte| format!("{byte:02x}")).collect()
});

/// Names this stylesheet with this brand colour.
pub fn version(brand: &Branding) -> String {
    format!("{}-{}", *SOURCE_DIGEST, brand.accent.to_string().trim_start_matches('#'))
}

fn content(brand: &Branding) -> String {
    format!(":root {{ --accent: {}; }}\n{SOURCE}", brand.accent)
}

#[handler]
pub fn serve(request: &Request, state: Data<&AppState>) -> Response {
    let brand = &state.config.brand;
    let etag = format!("\"{}\"", version(brand));
    let fresh = request.header(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag || tag.trim() == "*")
    });
    let response = Response::builder().header(header::CACHE_CONTROL, CACHE_CONTROL).header(header::ETAG, &etag);
    if fresh {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    response.header(header::CONTENT_TYPE, "text/css; charset=utf-8").body(content(brand))
}
