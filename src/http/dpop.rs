//! The `DPoP` request header (RFC 9449 §4.1): at most one, holding one JWT. Checking the proof
//! is the domain's (`oauth::dpop`); this only reads the header off the request.

use poem::Request;

use crate::oauth::dpop::DpopError;

/// The request's DPoP proof, if it sent one. More than one `DPoP` header, or one that is not
/// visible ASCII, is refused (§4.3 items 1 and 2).
pub(super) fn dpop_header(request: &Request) -> Result<Option<&str>, DpopError> {
    let mut values = request.headers().get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DpopError::Invalid("send one DPoP header"));
    }
    first.to_str().map(Some).map_err(|_| DpopError::Invalid("the DPoP header is not a JWT"))
}
