//! Loopback hosts: where plain http is acceptable (a developer's issuer, native-app redirect
//! URIs per RFC 8252 §7.3).

use url::{Host, Url};

pub fn has_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
