use std::collections::BTreeSet;

use super::*;
use crate::branding::{Logo, Rgb};

fn brand() -> Branding {
    Branding::new("Acme <ID>".to_owned(), Some(Logo::parse("https://cdn.acme.test/logo.svg").unwrap()), Rgb(1, 2, 3))
}

/// The literal keys of every `t("…"` call in the templates.
fn keys_in_templates() -> BTreeSet<&'static str> {
    let mut keys = BTreeSet::new();
    for (_, source) in TEMPLATE_SOURCES {
        for (at, _) in source.match_indices("t(\"") {
            // `t(` itself, not the end of `alert(`.
            if source[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let key = source[at + 3..].split('"').next().unwrap();
            // `t("scope." ~ kind)`: a prefix, checked with its variables below.
            if !key.ends_with('.') {
                keys.insert(key);
            }
        }
    }
    keys
}

#[test]
fn every_locale_has_exactly_the_same_keys_once() {
    for locale in Locale::ALL {
        let entries = locales::entries(locale);
        assert_eq!(entries.len(), locales::keys(locale).len(), "{locale:?} repeats a key");
        assert_eq!(locales::keys(locale), locales::keys(Locale::En), "{locale:?} and en differ");
        assert!(entries.iter().all(|(_, text)| !text.trim().is_empty()), "{locale:?} has an empty text");
    }
}

#[test]
fn every_key_the_templates_and_handlers_use_exists() {
    let mut used = keys_in_templates();
    assert!(used.len() > 40, "the scan found {} keys", used.len());
    // Keys built from a variable in a template.
    for kind in ["openid", "profile", "email", "phone", "offline_access", "roles", "admin", "other"] {
        used.insert(Box::leak(format!("scope.{kind}").into_boxed_str()));
    }
    for link in [VERIFY_EMAIL.key, CONFIRM_EMAIL_CHANGE.key] {
        for part in ["title", "message", "button"] {
            used.insert(Box::leak(format!("{link}.{part}").into_boxed_str()));
        }
    }
    for locale in Locale::ALL {
        for key in &used {
            assert!(locales::lookup(locale, key).is_some(), "{locale:?} lacks {key}");
        }
    }
}

/// The handlers that show pages name their texts as `Notice::new("…")` (a title and a message)
/// or `.text("…")`; each must exist in every locale.
#[test]
fn every_key_the_handlers_use_exists() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("../account.rs"),
        include_str!("../authorize.rs"),
        include_str!("../error.rs"),
        include_str!("../federation.rs"),
        include_str!("../logout.rs"),
        include_str!("../password_reset.rs"),
        include_str!("../profile.rs"),
        include_str!("../rate_limit.rs"),
        include_str!("../second_step.rs"),
    ];
    let literals = |call: &str| -> Vec<&'static str> {
        let after = |source: &'static str| source.split(call).skip(1).map(|rest| rest.split('"').next().unwrap());
        sources.into_iter().flat_map(after).collect()
    };
    let notices = literals("Notice::new(\"");
    let texts = literals(".text(\"");
    assert!(notices.len() > 25 && texts.len() > 5, "the scan found {} notices, {} texts", notices.len(), texts.len());
    for locale in Locale::ALL {
        for notice in &notices {
            for part in ["title", "message"] {
                assert!(
                    locales::lookup(locale, &format!("{notice}.{part}")).is_some(),
                    "{locale:?} lacks {notice}.{part}"
                );
            }
        }
        for key in &texts {
            assert!(locales::lookup(locale, key).is_some(), "{locale:?} lacks {key}");
        }
    }
}

#[test]
fn placeholders_are_filled_once() {
    assert_eq!(locales::fill("Hi {name}, {x}", &[("name", "{x}"), ("x", "1")]), "Hi {x}, 1");
    assert_eq!(locales::fill("{unknown} {", &[]), "{unknown} {");
}

fn render_all(ui: &Ui<'_>) -> Vec<(&'static str, String)> {
    let login = LoginPage {
        request: "r",
        csrf: "c",
        client_name: "<script>x</script>",
        email: "a@b.c",
        signed_in_as: None,
        error: Some("<i>"),
        upstreams: vec![UpstreamLink { id: "google", name: "<b>" }],
    };
    let second_step =
        SecondStepPage { request: "r", csrf: "c", mfa_token: "t", client_name: "<b>", error: Some("<i>") };
    let consent =
        ConsentPage { request: "r", csrf: "c", client_name: "<b>", user_email: "a", scopes: vec!["openid", "other"] };
    let reset = PasswordResetPage { email: "<i>", token: "t", csrf: "c", error: Some("<b>"), ..Default::default() };
    let html = |template, values: Value| render_html(ui, template, &values, "n").unwrap();
    vec![
        ("login", html("login.html", Value::from_serialize(&login))),
        ("second_step", html("second_step.html", Value::from_serialize(&second_step))),
        ("consent", html("consent.html", Value::from_serialize(&consent))),
        (
            "error",
            html(
                "error.html",
                context! { title => "t", message => "<i>", code => "c", detail => "<b>", request_id => "id" },
            ),
        ),
        ("password_reset", html("password_reset.html", Value::from_serialize(&reset))),
        ("password_forgot", html("password_forgot.html", context! { csrf => "c", sent => false })),
        (
            "password_forgot_sent",
            html("password_forgot.html", context! { csrf => "c", sent => true, valid_minutes => 30 }),
        ),
        (
            "logout",
            html("logout.html", context! { client_name => "<b>", csrf => "c", params => vec![("state", "<i>")] }),
        ),
        ("signed_out", html("signed_out.html", context! { title => "<b>", message => "<i>" })),
        (
            "confirm_link",
            html(
                "confirm_link.html",
                context! { link => "verify_email", action => "/verify-email", token => "<b>", csrf => "c" },
            ),
        ),
        ("form_post", html("form_post.html", context! { action => "https://a/cb", params => vec![("code", "\"x\"")] })),
    ]
}

#[test]
fn every_page_renders_in_every_locale_escaped_with_the_brand() {
    let brand = brand();
    for locale in Locale::ALL {
        let ui = Ui { locale, brand: &brand };
        for (name, html) in render_all(&ui) {
            assert!(
                !html.contains("<script>x") && !html.contains("<b>") && !html.contains("<i>"),
                "{name} did not escape"
            );
            assert!(html.contains(&format!("<html lang=\"{}\">", locale.tag())), "{name} lacks lang");
            assert!(html.contains("· Acme &lt;ID&gt;</title>"), "{name} lacks the product name in its title");
            // minijinja escapes `/` too, which HTML decodes.
            let logo = "<img src=\"https:&#x2f;&#x2f;cdn.acme.test&#x2f;logo.svg\" alt=\"Acme &lt;ID&gt;\">";
            assert!(html.contains(logo), "{name} lacks the logo");
            assert!(html.contains(&format!("href=\"/assets/ferrid.css?v={}\"", stylesheet::version(&brand))), "{name}");
            assert!(!html.contains("<style"), "{name} has its own styles");
        }
    }
}

/// WCAG 1.3.1 / 3.3.2: every visible input has a label naming it, its `id` equal to its `name`.
#[test]
fn every_visible_input_has_a_label() {
    let brand = Branding::default();
    for (name, html) in render_all(&Ui { locale: Locale::Fr, brand: &brand }) {
        for input in html.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap();
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let attr = |attr: &str| tag.split(&format!(" {attr}=\"")).nth(1).map(|v| v.split('"').next().unwrap());
            let id = attr("id").unwrap_or_else(|| panic!("{name}: input without id: {tag}"));
            assert_eq!(attr("name"), Some(id), "{name}: id and name differ");
            assert!(html.contains(&format!("<label for=\"{id}\">")), "{name}: no label for {id}");
        }
    }
}

#[test]
fn the_csp_allows_the_stylesheet_and_exactly_the_logo_origin() {
    let response = login(
        &Ui { locale: Locale::En, brand: &brand() },
        &LoginPage {
            request: "r",
            csrf: "c",
            client_name: "c",
            email: "",
            signed_in_as: None,
            error: None,
            upstreams: vec![],
        },
        StatusCode::OK,
    );
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(csp.contains("img-src 'self' https://cdn.acme.test;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let plain = content_security_policy(&Branding::default(), "n", None);
    assert!(plain.contains("img-src 'self';"), "{plain}");
}

/// Browsers check `form-action` on every redirect that follows a form submission (CSP 3
/// §6.4.2): the consent form's redirect chain ends at the client, so its origin is allowed.
#[test]
fn forms_may_redirect_to_the_client_csp_3_form_action() {
    let page = ConsentPage { request: "r", csrf: "c", client_name: "Photos", user_email: "a@b.c", scopes: vec![] };
    let page = consent(&Ui { locale: Locale::En, brand: &Branding::default() }, &page);
    let page = allow_form_redirects(page, ["http://127.0.0.1:9000/cb?x=1", "com.example.app:/cb", "::"]);
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    let form_action = policy.split(';').map(str::trim).find(|d| d.starts_with("form-action ")).unwrap();
    assert_eq!(form_action, "form-action 'self' http://127.0.0.1:9000 com.example.app:", "{policy}");
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
}
