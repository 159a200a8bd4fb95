//! Every user-facing string of the pages, one table per locale. Keys are shared; a test checks
//! that every locale has exactly the same keys and every key the templates use. A text may hold
//! `{name}` placeholders, filled when it is looked up (`{product}` is always the brand name).
//!
//! To add a locale: add a variant to `crate::locale::Locale`, copy `en.rs` to `<tag>.rs`,
//! translate it, and add it to `table` below.

use std::{collections::HashMap, sync::LazyLock};

use crate::locale::Locale;

mod en;
mod fr;

type Table = HashMap<&'static str, &'static str>;

static EN: LazyLock<Table> = LazyLock::new(|| en::STRINGS.iter().copied().collect());
static FR: LazyLock<Table> = LazyLock::new(|| fr::STRINGS.iter().copied().collect());

fn table(locale: Locale) -> &'static Table {
    match locale {
        Locale::En => &EN,
        Locale::Fr => &FR,
    }
}

/// The text of `key` in `locale`, placeholders not yet filled.
pub fn lookup(locale: Locale, key: &str) -> Option<&'static str> {
    table(locale).get(key).copied()
}

/// `text` with each `{name}` replaced by its value, in one pass: a value that itself contains
/// `{…}` (an email address, a client's name) is never expanded.
pub fn fill(text: &str, args: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let placeholder = after.find('}').and_then(|close| {
            let value = args.iter().find(|(name, _)| *name == &after[..close])?.1;
            Some((value, close))
        });
        match placeholder {
            Some((value, close)) => {
                filled.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                filled.push('{');
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    filled
}

#[cfg(test)]
pub(super) fn keys(locale: Locale) -> Vec<&'static str> {
    let mut keys: Vec<_> = table(locale).keys().copied().collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
pub(super) fn entries(locale: Locale) -> &'static [(&'static str, &'static str)] {
    match locale {
        Locale::En => en::STRINGS,
        Locale::Fr => fr::STRINGS,
    }
}
