//! How every admin list pages: `limit` (1–200, default 50) and `cursor` (the previous page's
//! last id), answered with `next_cursor`, absent on the last page.

/// The page size when the request names none.
const DEFAULT_PAGE: u64 = 50;
/// The largest page a request may ask for.
const MAX_PAGE: u64 = 200;

/// `limit` of an admin list, or why it is refused.
pub(super) fn page_limit(limit: Option<u64>) -> Result<u64, String> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) { Ok(limit) } else { Err(format!("limit must be 1 to {MAX_PAGE}")) }
}

/// A list's `cursor` when ids are UUIDs.
pub(super) fn page_cursor(cursor: Option<&str>) -> Result<Option<uuid::Uuid>, String> {
    cursor.map(uuid::Uuid::parse_str).transpose().map_err(|_| "cursor is malformed".to_owned())
}

/// The next page's cursor: the last id of a full page; none after a short one.
pub(super) fn next_cursor<T>(items: &[T], limit: u64, id: impl Fn(&T) -> String) -> Option<String> {
    if items.len() as u64 == limit { items.last().map(id) } else { None }
}
