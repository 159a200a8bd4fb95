//! Renders a kind's plain-text and HTML templates. Each `<kind>.txt` starts with a
//! `Subject:` line and a blank line, so a message's wording, subject included, sits in one
//! folder. `.html` templates are auto-escaped by minijinja (names, links), `.txt` ones are not.

use std::sync::LazyLock;

use lettre::message::Mailbox;
use minijinja::{Environment, Value, context};

use super::{Mail, MailError, MailKind};

/// The product name shown in every mail.
const PRODUCT: &str = "ferrid";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_global("product", PRODUCT);
    env.add_filter("href", href);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("verify_email.txt", include_str!("templates/verify_email.txt")),
        ("verify_email.html", include_str!("templates/verify_email.html")),
        ("registration_attempt.txt", include_str!("templates/registration_attempt.txt")),
        ("registration_attempt.html", include_str!("templates/registration_attempt.html")),
        ("password_reset.txt", include_str!("templates/password_reset.txt")),
        ("password_reset.html", include_str!("templates/password_reset.html")),
        ("password_changed.txt", include_str!("templates/password_changed.txt")),
        ("password_changed.html", include_str!("templates/password_changed.html")),
        ("email_hint.txt", include_str!("templates/email_hint.txt")),
        ("email_hint.html", include_str!("templates/email_hint.html")),
        ("new_refresh_origin.txt", include_str!("templates/new_refresh_origin.txt")),
        ("new_refresh_origin.html", include_str!("templates/new_refresh_origin.html")),
    ] {
        // The sources are compiled in; a syntax error is caught by the tests that render them.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(%error, name, "mail template does not parse");
        }
    }
    env
});

/// A link for an `href` attribute. minijinja's HTML escaping also turns `/` into `&#x2f;`, which
/// is valid but unreadable in a mail's source; the links come from `Url`, so escaping what ends
/// an attribute or starts markup is enough.
fn href(link: String) -> Value {
    let escaped = link
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Value::from_safe_string(escaped)
}

pub(super) fn render(kind: MailKind, to: Mailbox, values: Value) -> Result<Mail, MailError> {
    let name = kind.as_str();
    let render = |extension: &str, values: Value| {
        TEMPLATES.get_template(&format!("{name}.{extension}")).and_then(|t| t.render(values)).map_err(|error| {
            tracing::error!(%error, template = name, "mail template did not render");
            MailError::Template(name)
        })
    };
    let text = render("txt", values.clone())?;
    let (subject, text_body) =
        text.strip_prefix("Subject: ").and_then(|rest| rest.split_once("\n\n")).ok_or(MailError::Template(name))?;
    let subject = subject.trim().to_owned();
    let html_body = render("html", context! { subject => &subject, ..values })?;
    Ok(Mail { kind, to, subject, text_body: text_body.to_owned(), html_body })
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn to(name: &str) -> Mailbox {
        Mailbox::new(Some(name.to_owned()), "ann@example.com".parse().unwrap())
    }

    fn link(path: &str) -> Url {
        Url::parse(&format!("https://id.example.com{path}?token=abc&x=1")).unwrap()
    }

    #[test]
    fn every_kind_renders_a_subject_and_both_parts() {
        let mails = [
            Mail::verify_email(to("Ann"), "493817", &link("/verify"), 10).unwrap(),
            Mail::registration_attempt(to("Ann"), &link("/login"), &link("/reset")).unwrap(),
            Mail::password_reset(to("Ann"), &link("/reset"), 10).unwrap(),
            Mail::password_changed(to("Ann"), &link("/reset")).unwrap(),
            Mail::email_hint(to("Ann"), &link("/reset")).unwrap(),
            Mail::new_refresh_origin(
                to("Ann"),
                &super::super::NewOriginNotice {
                    client: "Photo app",
                    when: "2026-01-01 00:00 UTC",
                    network: "203.0.113.0/24",
                    device: "Mozilla (X11; Linux x86_64) Firefox",
                },
                &link("/reset"),
            )
            .unwrap(),
        ];
        for mail in mails {
            assert!(!mail.subject.is_empty() && !mail.subject.contains('\n'), "{:?}", mail.subject);
            assert!(mail.text_body.contains("Ann"), "{}", mail.text_body);
            assert!(mail.html_body.starts_with("<!doctype html>"), "{}", mail.html_body);
            assert!(mail.html_body.contains(&mail.subject));
            assert!(!mail.text_body.contains('<'), "plain text has no markup: {}", mail.text_body);
        }
    }

    #[test]
    fn the_verification_code_and_link_are_in_both_parts() {
        let mail = Mail::verify_email(to("Ann"), "493817", &link("/verify"), 10).unwrap();
        assert_eq!(mail.kind, MailKind::VerifyEmail);
        for body in [&mail.text_body, &mail.html_body] {
            assert!(body.contains("493817"), "{body}");
            assert!(body.contains("10 minutes"), "{body}");
        }
        assert!(mail.text_body.contains("https://id.example.com/verify?token=abc&x=1"));
        assert!(
            mail.html_body.contains("href=\"https://id.example.com/verify?token=abc&amp;x=1\""),
            "{}",
            mail.html_body
        );
    }

    #[test]
    fn reset_and_registration_links_are_in_both_parts() {
        let reset = Mail::password_reset(to("Ann"), &link("/reset"), 10).unwrap();
        let attempt = Mail::registration_attempt(to("Ann"), &link("/login"), &link("/reset")).unwrap();
        let changed = Mail::password_changed(to("Ann"), &link("/reset")).unwrap();
        for (mail, path) in [(&reset, "/reset"), (&attempt, "/login"), (&attempt, "/reset"), (&changed, "/reset")] {
            assert!(mail.text_body.contains(&format!("https://id.example.com{path}?token=abc&x=1")));
            assert!(mail.html_body.contains(&format!("https://id.example.com{path}?token=abc&amp;x=1")));
        }
    }

    #[test]
    fn the_hint_names_the_address_in_both_parts() {
        let mail = Mail::email_hint(to("Ann"), &link("/reset")).unwrap();
        assert_eq!(mail.kind, MailKind::EmailHint);
        for body in [&mail.text_body, &mail.html_body] {
            assert!(body.contains("ann@example.com"), "{body}");
        }
        assert!(mail.text_body.contains("https://id.example.com/reset?token=abc&x=1"));
    }

    #[test]
    fn user_input_is_escaped_in_html() {
        let mail = Mail::password_reset(to("<script>alert(1)</script>"), &link("/reset"), 10).unwrap();
        assert!(!mail.html_body.contains("<script>"), "{}", mail.html_body);
        assert!(mail.html_body.contains("&lt;script&gt;"));
        assert!(mail.text_body.contains("<script>alert(1)</script>"), "plain text is not HTML");
    }

    #[test]
    fn links_keep_their_slashes_but_cannot_leave_the_attribute() {
        assert_eq!(href("https://a.example/p?x=1&y=2".to_owned()).to_string(), "https://a.example/p?x=1&amp;y=2");
        assert_eq!(href("x\"><script>'".to_owned()).to_string(), "x&quot;&gt;&lt;script&gt;&#x27;");
    }

    #[test]
    fn a_mail_without_a_name_greets_plainly() {
        let mail = Mail::password_changed("ann@example.com".parse().unwrap(), &link("/reset")).unwrap();
        assert!(mail.text_body.starts_with("Hello,\n"), "{}", mail.text_body);
    }
}
