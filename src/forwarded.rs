//! Which address a request came from when it passes through reverse proxies. Only proxies the
//! operator lists (`FERRID_TRUSTED_PROXIES`) are believed, and only through the one header the
//! operator names (`FERRID_FORWARDED_HEADER`): a proxy appends to that header but passes any
//! other forwarding header from the client through untouched, so reading a second one would let
//! a client choose its own address. Rate limits, audit records, session origins, suspicious-
//! refresh detection and access logs all take the address from [`client_address`].

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// The forwarding header a trusted proxy maintains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most ingress controllers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("must be x-forwarded-for or forwarded, not {other:?}")),
        }
    }
}

/// The networks whose connections may speak for a client (empty: trust nobody).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses a comma- or space-separated list of CIDRs or single addresses
    /// (`10.0.0.0/8, 2001:db8::/32, 192.0.2.7`).
    pub fn parse(list: &str, header: ForwardedHeader) -> Result<Self, String> {
        let networks = list
            .split([',', ' '])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map(|network| network.trunc())
                    .map_err(|_| format!("{entry:?} is not an address or CIDR"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { networks, header })
    }

    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(&address))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let networks: Vec<String> = self.networks.iter().map(ToString::to_string).collect();
        write!(f, "{} via {}", networks.join(","), self.header.name())
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the rightmost
/// address of the forwarding chain that is not itself a trusted proxy. `header_values` are the
/// values of every line of the configured header, in order. Walking from the right, each hop was
/// appended by the proxy to its right, so it holds as long as that proxy is trusted; an entry
/// that does not parse ends the walk, since nothing left of it can be believed.
pub fn client_address<'a>(
    peer: IpAddr,
    header_values: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.trusts(peer) {
        return peer;
    }
    let entries: Vec<&str> = header_values.into_iter().flat_map(|value| value.split(',')).collect();
    let mut address = peer;
    for entry in entries.into_iter().rev() {
        let hop = match trusted.header {
            ForwardedHeader::XForwardedFor => parse_node(entry),
            ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_node),
        };
        let Some(hop) = hop else { break };
        address = hop;
        if !trusted.trusts(hop) {
            break;
        }
    }
    address
}

/// The `for=` parameter of one `Forwarded` element (RFC 7239 §4: `for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| value.trim())
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`, possibly quoted (RFC 7239 §6). `unknown` and
/// obfuscated identifiers (`_hidden`) are not addresses.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let node = node.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(node);
    if let Ok(address) = IpAddr::from_str(node) {
        return Some(address.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return std::net::Ipv6Addr::from_str(inside).ok().map(|address| IpAddr::V6(address).to_canonical());
    }
    let (host, port) = node.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    std::net::Ipv4Addr::from_str(host).ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list, ForwardedHeader::XForwardedFor).unwrap()
    }

    fn rfc7239(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list, ForwardedHeader::Forwarded).unwrap()
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let trusted = TrustedProxies::default();
        assert_eq!(client_address(ip("10.0.0.2"), ["203.0.113.9"], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let trusted = xff("10.0.0.0/8");
        assert_eq!(client_address(ip("198.51.100.4"), ["1.2.3.4"], &trusted), ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = xff("10.0.0.0/8");
        // The client prepended a spoofed address; the proxies appended the real ones.
        let header = ["6.6.6.6, 203.0.113.9, 10.0.0.7"];
        assert_eq!(client_address(ip("10.0.0.2"), header, &trusted), ip("203.0.113.9"));
        // Header lines are one list, in order (RFC 9110 §5.3).
        assert_eq!(client_address(ip("10.0.0.2"), ["6.6.6.6", "203.0.113.9", "10.0.0.7"], &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_yields_its_leftmost_address() {
        let trusted = xff("10.0.0.0/8");
        assert_eq!(client_address(ip("10.0.0.2"), ["10.1.1.1, 10.0.0.7"], &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let trusted = xff("10.0.0.0/8");
        assert_eq!(client_address(ip("10.0.0.2"), [], &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), [""], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn garbage_stops_the_walk() {
        let trusted = xff("10.0.0.0/8");
        for header in ["not-an-ip", "1.2.3.4.5", "<script>", "1.2.3.4:99999", "[::1", "::1]:80", "unknown"] {
            assert_eq!(client_address(ip("10.0.0.2"), [header], &trusted), ip("10.0.0.2"), "{header}");
        }
        // Garbage left of the client's hop does not matter; garbage right of it hides it.
        assert_eq!(client_address(ip("10.0.0.2"), ["junk, 203.0.113.9"], &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.2"), ["203.0.113.9, junk"], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_forms_and_ports_are_understood() {
        let trusted = xff("10.0.0.0/8, fd00::/8");
        assert_eq!(client_address(ip("fd00::1"), ["2001:db8::7"], &trusted), ip("2001:db8::7"));
        assert_eq!(client_address(ip("fd00::1"), ["[2001:db8::7]:4711"], &trusted), ip("2001:db8::7"));
        assert_eq!(client_address(ip("10.0.0.2"), ["203.0.113.9:5555"], &trusted), ip("203.0.113.9"));
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
        assert_eq!(client_address(ip("::ffff:10.0.0.2"), ["203.0.113.9"], &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.2"), ["::ffff:203.0.113.9"], &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn rfc_7239_forwarded_for_is_read_when_configured() {
        let trusted = rfc7239("10.0.0.0/8");
        // RFC 7239 §4 and §7.1 examples: quoted IPv6 with a port, other parameters, several hops.
        let header = [r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.7;by=10.0.0.2"#];
        assert_eq!(client_address(ip("10.0.0.2"), header, &trusted), ip("2001:db8:cafe::17"));
        assert_eq!(client_address(ip("10.0.0.2"), ["For=\"192.0.2.43:47011\""], &trusted), ip("192.0.2.43"));
        // Obfuscated and unknown nodes (RFC 7239 §6.3) are not addresses.
        assert_eq!(client_address(ip("10.0.0.2"), ["for=_hidden"], &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), ["for=unknown"], &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), ["proto=https"], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn the_list_is_parsed_strictly() {
        assert!(TrustedProxies::parse("", ForwardedHeader::XForwardedFor).unwrap().is_empty());
        let trusted = xff("192.0.2.7 10.0.0.0/8,fd00::/8");
        assert_eq!(trusted.networks.len(), 3);
        assert!(trusted.trusts(ip("192.0.2.7")) && !trusted.trusts(ip("192.0.2.8")));
        assert!(TrustedProxies::parse("10.0.0.0/33", ForwardedHeader::XForwardedFor).is_err());
        assert!(TrustedProxies::parse("proxy.internal", ForwardedHeader::XForwardedFor).is_err());
        assert_eq!("Forwarded".parse::<ForwardedHeader>(), Ok(ForwardedHeader::Forwarded));
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
    }
}
