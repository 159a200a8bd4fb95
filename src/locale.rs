//! The languages the pages speak, and choosing one for a request: the client's `ui_locales`
//! (OIDC Core §3.1.2.1, a space-separated list of BCP 47 tags in order of preference) first,
//! then the browser's `Accept-Language` (RFC 9110 §12.5.4, with q-values), then English.

/// A supported page language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    #[default]
    En,
    Fr,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Fr];

    /// The BCP 47 tag, for `<html lang>` and `ui_locales_supported`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }

    /// The supported locale a language tag asks for: `fr`, `fr-CA` and `FR` all mean French.
    pub fn of_tag(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Locale::ALL.into_iter().find(|locale| locale.tag().eq_ignore_ascii_case(primary))
    }

    /// The first supported tag of `ui_locales`, else the best of `Accept-Language`, else English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
        ui_locales
            .and_then(|list| list.split_ascii_whitespace().find_map(Locale::of_tag))
            .or_else(|| accept_language.and_then(best_accepted))
            .unwrap_or_default()
    }
}

/// The supported language with the highest q-value (the earliest among equals); `q=0` means
/// "not this one", and `*` takes English.
fn best_accepted(header: &str) -> Option<Locale> {
    let mut best: Option<(Locale, f32)> = None;
    for range in header.split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)));
        let Some(quality) = quality.filter(|q| *q > 0.0) else { continue };
        let locale = if tag == "*" { Some(Locale::default()) } else { Locale::of_tag(tag) };
        if let Some(locale) = locale
            && best.is_none_or(|(_, q)| quality > q)
        {
            best = Some((locale, quality));
        }
    }
    best.map(|(locale, _)| locale)
}

#[cfg(test)]
mod tests {
    use super::{Locale::*, *};

    #[test]
    fn ui_locales_first_supported_wins() {
        // OIDC Core §3.1.2.1: "space-separated list of BCP47 language tag values, ordered by preference".
        assert_eq!(Locale::negotiate(Some("de-AT fr-CA en"), Some("en")), Fr);
        assert_eq!(Locale::negotiate(Some("en fr"), Some("fr")), En);
        assert_eq!(Locale::negotiate(Some("de ja"), Some("fr")), Fr, "none supported: Accept-Language decides");
        assert_eq!(Locale::negotiate(Some(""), None), En);
    }

    #[test]
    fn accept_language_honours_q_values() {
        // RFC 9110 §12.5.4 and §12.4.2.
        assert_eq!(Locale::negotiate(None, Some("fr-FR,fr;q=0.9,en;q=0.8")), Fr);
        assert_eq!(Locale::negotiate(None, Some("en;q=0.5, fr;q=0.8")), Fr);
        assert_eq!(Locale::negotiate(None, Some("de, fr;q=0.3, en;q=0.2")), Fr);
        assert_eq!(Locale::negotiate(None, Some("fr;q=0, en;q=0.1")), En, "q=0 refuses");
        assert_eq!(Locale::negotiate(None, Some("fr;q=0.5, en;q=0.5")), Fr, "the earliest among equals");
        assert_eq!(Locale::negotiate(None, Some("de, *;q=0.1")), En);
        assert_eq!(Locale::negotiate(None, Some("fr;q=abc, en")), En, "a malformed q-value is ignored");
        assert_eq!(Locale::negotiate(None, Some("de")), En);
        assert_eq!(Locale::negotiate(None, None), En);
    }

    #[test]
    fn tags_match_by_primary_subtag() {
        assert_eq!(Locale::of_tag("FR-ca"), Some(Fr));
        assert_eq!(Locale::of_tag("fr_BE"), Some(Fr));
        assert_eq!(Locale::of_tag("fri"), None);
        assert_eq!(Locale::of_tag(""), None);
    }
}
