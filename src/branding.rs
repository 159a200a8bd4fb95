//! How the pages present the product: its name, its logo and its primary colour
//! (`FERRID_BRAND_*`). The colour is kept readable: text in it on white, and white text on it,
//! must reach WCAG 2.2 AA contrast (4.5:1, success criterion 1.4.3), so a lighter configured
//! colour is darkened until it does.

use std::fmt;

use url::Url;

/// The product name when none is configured.
pub const DEFAULT_NAME: &str = "ferrid";

/// The primary colour when none is configured (about 7.6:1 against white).
pub const DEFAULT_COLOR: Rgb = Rgb(0x34, 0x51, 0xb2);

/// WCAG 2.2 AA for normal text.
pub const AA_CONTRAST: f64 = 4.5;

#[derive(Clone, Debug)]
pub struct Branding {
    pub name: String,
    pub logo: Option<Logo>,
    /// The colour as configured.
    pub configured_color: Rgb,
    /// The colour the pages use: the configured one, darkened if it failed AA against white.
    pub accent: Rgb,
}

impl Default for Branding {
    fn default() -> Self {
        Self::new(DEFAULT_NAME.to_owned(), None, DEFAULT_COLOR)
    }
}

impl Branding {
    pub fn new(name: String, logo: Option<Logo>, color: Rgb) -> Self {
        Self { name, logo, configured_color: color, accent: color.readable_on_white() }
    }
}

/// A logo shown in every page header: an https URL, or a path on this server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub url: String,
    /// The origin pages must allow in CSP `img-src`; `None` for a path on this server.
    pub origin: Option<String>,
}

impl Logo {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'') {
            return Err("must not contain spaces, quotes or control characters".to_owned());
        }
        if value.starts_with('/') && !value.starts_with("//") {
            return Ok(Self { url: value.to_owned(), origin: None });
        }
        let url = Url::parse(value).map_err(|_| "must be an https URL or a path starting with /".to_owned())?;
        if url.scheme() != "https" || url.host_str().is_none() {
            return Err("must be an https URL or a path starting with /".to_owned());
        }
        Ok(Self { url: url.to_string(), origin: Some(url.origin().ascii_serialization()) })
    }
}

/// An sRGB colour, written `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn parse(value: &str) -> Result<Self, String> {
        let problem = || format!("must be a colour written #rrggbb, not {value:?}");
        let hex = value.strip_prefix('#').filter(|h| h.len() == 6 && h.is_ascii()).ok_or_else(problem)?;
        let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).map_err(|_| problem());
        Ok(Self(channel(0)?, channel(2)?, channel(4)?))
    }

    /// WCAG 2.2 relative luminance.
    pub fn luminance(self) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    /// WCAG 2.2 contrast ratio, from 1 (none) to 21 (black on white).
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// This colour, or the first darker shade of it that reaches AA against white (black always
    /// does), so that it works both as link text on white and behind white button text.
    pub fn readable_on_white(self) -> Rgb {
        const WHITE: Rgb = Rgb(255, 255, 255);
        let mut shade = self;
        while shade.contrast(WHITE) < AA_CONTRAST {
            let darker = |c: u8| (f64::from(c) * 0.92).floor() as u8;
            shade = Rgb(darker(shade.0), darker(shade.1), darker(shade.2));
        }
        shade
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb = Rgb(255, 255, 255);

    #[test]
    fn contrast_matches_wcag_examples() {
        assert!((Rgb(0, 0, 0).contrast(WHITE) - 21.0).abs() < 1e-9);
        assert!((WHITE.contrast(WHITE) - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey that passes AA on white (4.54:1).
        assert!((Rgb::parse("#767676").unwrap().contrast(WHITE) - 4.54).abs() < 0.01);
    }

    #[test]
    fn a_readable_colour_is_kept_and_a_light_one_is_darkened_to_aa() {
        assert_eq!(DEFAULT_COLOR.readable_on_white(), DEFAULT_COLOR);
        assert!(DEFAULT_COLOR.contrast(WHITE) >= AA_CONTRAST);
        let yellow = Rgb::parse("#ffdd00").unwrap();
        assert!(yellow.contrast(WHITE) < 2.0);
        let darkened = yellow.readable_on_white();
        assert!(darkened.contrast(WHITE) >= AA_CONTRAST, "{darkened}");
        assert!(darkened.0 > darkened.2, "the hue is kept: {darkened}");
        assert!(Rgb(255, 255, 255).readable_on_white().contrast(WHITE) >= AA_CONTRAST);
    }

    #[test]
    fn colours_parse_only_as_rrggbb() {
        assert_eq!(Rgb::parse("#0A1b2C"), Ok(Rgb(0x0a, 0x1b, 0x2c)));
        assert_eq!(Rgb(0x0a, 0x1b, 0x2c).to_string(), "#0a1b2c");
        for bad in ["0a1b2c", "#abc", "#gg0000", "#0a1b2c0", "red", "#ééé", ""] {
            assert!(Rgb::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_logo_is_an_https_url_or_a_local_path() {
        let remote = Logo::parse("https://cdn.example.com/brand/logo.svg").unwrap();
        assert_eq!(remote.origin.as_deref(), Some("https://cdn.example.com"));
        assert_eq!(Logo::parse("/static/logo.png").unwrap().origin, None);
        for bad in
            ["http://cdn.example.com/l.png", "//cdn.example.com/l.png", "javascript:alert(1)", "logo.png", "/a b"]
        {
            assert!(Logo::parse(bad).is_err(), "{bad}");
        }
    }
}
