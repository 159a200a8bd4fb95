//! `ferrid probe`: asks the server on this machine (at `FERRID_BIND`) for `/ready` (or
//! `/health`) and succeeds on a 200 — a container health check that needs no curl in the image.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::config::Config;

/// The whole probe, connection included, gives up after this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ProbeTarget {
    /// `/ready`: the database answers (200 also while only Redis is away: `degraded`).
    Ready,
    /// `/health`: the process serves.
    Health,
}

impl ProbeTarget {
    fn path(self) -> &'static str {
        match self {
            Self::Ready => "/ready",
            Self::Health => "/health",
        }
    }
}

/// Where to reach the local server: the bound address, or loopback when bound to every interface.
fn local_address(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

pub async fn run(target: ProbeTarget, config: &Config) -> anyhow::Result<()> {
    let address = local_address(config.bind);
    let status = tokio::time::timeout(PROBE_TIMEOUT, status_of(address, target.path()))
        .await
        .with_context(|| format!("{address}{} did not answer within {PROBE_TIMEOUT:?}", target.path()))??;
    if status != 200 {
        bail!("{address}{} answered {status}", target.path());
    }
    println!("{} ok", target.path());
    Ok(())
}

/// One HTTP/1.1 GET; the status code of the answer.
async fn status_of(address: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(address).await.with_context(|| format!("cannot connect to {address}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The status line is all we need; the body of /ready is small anyway.
    let mut head = [0; 64];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]).await? {
            0 => break,
            n => read += n,
        }
    }
    let head = String::from_utf8_lossy(&head[..read]);
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{address}{path} did not answer HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_address_is_probed_on_loopback() {
        assert_eq!(local_address("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(local_address("[::]:9000".parse().unwrap()), "[::1]:9000".parse().unwrap());
        assert_eq!(local_address("10.1.2.3:80".parse().unwrap()), "10.1.2.3:80".parse().unwrap());
    }
}
