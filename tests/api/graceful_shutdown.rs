//! Graceful shutdown of `ferrid serve` (issue 10 item 3): on SIGTERM the listening socket closes
//! at once, a request in flight still gets its answer, and the process exits 0 — within the
//! grace period, or at its end with whatever is still running cut off.
//!
//! The in-flight request is a real one: a `/token` request whose body the client has not finished
//! sending. With `Expect: 100-continue` (RFC 9110 §10.1.1) the server says `100 Continue` when the
//! handler starts reading the body, so the test knows the request is in flight without sleeping.

use std::time::{Duration, Instant};

use base64::Engine;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    cluster::Node,
    helpers::{Backend, TestResources},
    serve_process::{create_service_client, serve},
};

const BODY: &str = "grant_type=client_credentials&scope=profile";

/// Sends a `/token` request's headers and the first half of its body, and waits for the server's
/// `100 Continue`: from then on the request is being handled.
async fn start_slow_token_request(server: &Node, client_id: &str, secret: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).await.unwrap();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        server.port(),
        BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !interim.ends_with(b"\r\n\r\n") {
        assert!(Instant::now() < deadline, "no 100 Continue: {}", String::from_utf8_lossy(&interim));
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed before 100 Continue");
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&interim));
    stream.write_all(&BODY.as_bytes()[..BODY.len() / 2]).await.unwrap();
    stream
}

/// Polls until a new connection is refused.
async fn wait_until_refused(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(Instant::now() < deadline, "new connections are still accepted while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigterm_refuses_new_connections_answers_the_request_in_flight_and_exits_zero() {
    let resources = TestResources::create(Backend::Embedded).await;
    let (client_id, secret) = create_service_client(&resources);
    let mut server = serve(&resources, &[("FERRID_SHUTDOWN_GRACE_SECS", "20")]).await;
    let mut stream = start_slow_token_request(&server, &client_id, &secret).await;

    let signalled = Instant::now();
    server.terminate();
    server.wait_for_log("drain started", Duration::from_secs(5)).await;
    wait_until_refused(server.port()).await;

    // The rest of the body arrives after the signal; the request still gets its full answer.
    stream.write_all(&BODY.as_bytes()[BODY.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"access_token\""), "{answer}");

    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert!(signalled.elapsed() < Duration::from_secs(20), "the drain ended before the deadline");
    server.wait_for_log("drain finished: every in-flight request was answered", Duration::from_secs(5)).await;
    server.wait_for_log("ferrid stopped", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn past_the_grace_period_the_process_exits_anyway() {
    let resources = TestResources::create(Backend::Embedded).await;
    let (client_id, secret) = create_service_client(&resources);
    let mut server = serve(&resources, &[("FERRID_SHUTDOWN_GRACE_SECS", "1")]).await;
    // A client that never finishes its body would hold the drain open forever.
    let mut stream = start_slow_token_request(&server, &client_id, &secret).await;

    let signalled = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert!(took >= Duration::from_secs(1), "exited after {took:?}, before the grace period");
    server.wait_for_log("drain ended at the deadline", Duration::from_secs(5)).await;
    // The cut-off request's connection is closed, without an answer.
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest).await;
    assert!(read.is_err() || rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
