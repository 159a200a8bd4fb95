//! A minimal browser for the authorization flow: a cookie jar, no automatic redirects (each hop
//! is checked), and the login and consent forms filled in from their HTML.

use reqwest::{StatusCode, header};
use url::Url;

pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

/// Where a flow ended: at the client's redirect URI with these query parameters, or on a page.
#[derive(Debug)]
pub enum Landing {
    Redirect { url: Url },
    Page { status: StatusCode, html: String },
}

impl Landing {
    /// The query parameter `name` of a redirect back to the client.
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Landing::Redirect { url } => url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()),
            Landing::Page { .. } => None,
        }
    }

    pub fn code(&self) -> String {
        self.param("code").unwrap_or_else(|| panic!("no code in {self:?}"))
    }
}

/// The value of the hidden input `name` in a form, with HTML escapes undone.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{html}")) + marker.len();
    unescape(html[start..].split('"').next().unwrap())
}

/// Undoes the HTML escaping of attribute values.
pub fn unescape(value: &str) -> String {
    value
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: base.to_owned() }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') { format!("{}{location}", self.base) } else { location.to_owned() }
    }

    /// Follows redirects within ferrid; stops at a page or at a redirect that leaves ferrid.
    pub async fn follow(&self, mut url: String) -> Landing {
        for _ in 0..10 {
            if !url.starts_with(&self.base) {
                return Landing::Redirect { url: Url::parse(&url).unwrap() };
            }
            let response = self.http.get(&url).send().await.unwrap();
            let status = response.status();
            if status.is_redirection() {
                url = self.absolute(response.headers()[header::LOCATION].to_str().unwrap());
                continue;
            }
            return Landing::Page { status, html: response.text().await.unwrap() };
        }
        panic!("redirect loop at {url}");
    }

    /// Posts a form and follows where it leads.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Landing {
        let response = self.http.post(format!("{}{path}", self.base)).form(fields).send().await.unwrap();
        let status = response.status();
        if status.is_redirection() {
            let location = self.absolute(response.headers()[header::LOCATION].to_str().unwrap());
            return self.follow(location).await;
        }
        Landing::Page { status, html: response.text().await.unwrap() }
    }

    /// Starts at `authorize_url` and signs in and consents as needed.
    pub async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> Landing {
        let mut landing = self.follow(authorize_url.to_owned()).await;
        for _ in 0..3 {
            let Landing::Page { html, .. } = &landing else { return landing };
            if html.contains("action=\"/login\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                landing = self
                    .submit(
                        "/login",
                        &[("request", &request), ("csrf", &csrf), ("email", email), ("password", password)],
                    )
                    .await;
            } else if html.contains("action=\"/consent\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                landing =
                    self.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]).await;
            } else {
                return landing;
            }
        }
        landing
    }
}
