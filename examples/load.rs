//! The load tool's scenarios that wrk cannot drive (benches/load.sh runs the rest with wrk):
//!
//! - `flow BASE CLIENT_ID SECRET REDIRECT EMAIL PASSWORD SECONDS CONNECTIONS`: complete
//!   authorization code + PKCE sign-ins (authorize → login page → password login → resume →
//!   token), each virtual user with its own cookie jar, for SECONDS; prints one JSON line with
//!   flows/s, requests/s and the p50/p99 of a whole flow.
//! - `argon2 MEMORY_KIB ITERATIONS SECONDS`: what argon2id alone achieves on this thread at
//!   those parameters (hashes/s), the ceiling for password logins.
//!
//! Run through benches/load.sh, which pins it to the load generator's core.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark tool: bad arguments or a broken run should stop it loudly"
)]

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{StatusCode, header::LOCATION, redirect::Policy};

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn arg(args: &[String], index: usize, name: &str) -> String {
    args.get(index).cloned().unwrap_or_else(|| panic!("missing argument {name}"))
}

fn number(args: &[String], index: usize, name: &str) -> u64 {
    arg(args, index, name).parse().unwrap_or_else(|_| panic!("{name} must be a number"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("flow") => flow(&args[1..]).await,
        Some("argon2") => argon2_rate(&args[1..]),
        _ => {
            eprintln!("usage: load flow BASE CLIENT_ID SECRET REDIRECT EMAIL PASSWORD SECONDS CONNECTIONS");
            eprintln!("       load argon2 MEMORY_KIB ITERATIONS SECONDS");
            std::process::exit(2);
        }
    }
}

struct Flow {
    base: String,
    client_id: String,
    secret: String,
    redirect: String,
    email: String,
    password: String,
}

/// The value of a hidden form field in the login page.
fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

fn location(response: &reqwest::Response) -> Result<String, Failure> {
    Ok(response.headers().get(LOCATION).ok_or("no Location")?.to_str()?.to_owned())
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') { format!("{base}{location}") } else { location.to_owned() }
}

/// One sign-in from scratch; returns the number of HTTP requests it took.
async fn sign_in(flow: &Flow) -> Result<u32, Failure> {
    let http = reqwest::Client::builder().redirect(Policy::none()).cookie_store(true).build()?;
    let verifier = keys::random_id(48);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    let authorize = http
        .get(format!("{}/authorize", flow.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", flow.client_id.as_str()),
            ("redirect_uri", flow.redirect.as_str()),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await?;
    let login = absolute(&flow.base, &location(&authorize)?);
    let page = http.get(&login).send().await?.text().await?;
    let request = form_field(&page, "request").ok_or("no request field")?;
    let csrf = form_field(&page, "csrf").ok_or("no csrf field")?;
    let submitted = http
        .post(format!("{}/login", flow.base))
        .form(&[
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("email", flow.email.as_str()),
            ("password", flow.password.as_str()),
        ])
        .send()
        .await?;
    let resumed = http.get(absolute(&flow.base, &location(&submitted)?)).send().await?;
    let back = url::Url::parse(&location(&resumed)?)?;
    let code = back.query_pairs().find(|(k, _)| k == "code").ok_or("no code")?.1.into_owned();
    let token = http
        .post(format!("{}/token", flow.base))
        .basic_auth(&flow.client_id, Some(&flow.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", flow.redirect.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await?;
    if token.status() != StatusCode::OK {
        return Err(format!("token endpoint answered {}", token.status()).into());
    }
    Ok(5)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

async fn flow(args: &[String]) {
    let flow = std::sync::Arc::new(Flow {
        base: arg(args, 0, "BASE"),
        client_id: arg(args, 1, "CLIENT_ID"),
        secret: arg(args, 2, "SECRET"),
        redirect: arg(args, 3, "REDIRECT"),
        email: arg(args, 4, "EMAIL"),
        password: arg(args, 5, "PASSWORD"),
    });
    let seconds = number(args, 6, "SECONDS");
    let connections = number(args, 7, "CONNECTIONS");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let users = (0..connections).map(|_| {
        let flow = flow.clone();
        tokio::spawn(async move {
            let (mut latencies, mut requests, mut failures) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                let begun = Instant::now();
                match sign_in(&flow).await {
                    Ok(count) => {
                        latencies.push(begun.elapsed());
                        requests += u64::from(count);
                    }
                    Err(error) => {
                        failures += 1;
                        if failures == 1 {
                            eprintln!("flow failed: {error}");
                        }
                    }
                }
            }
            (latencies, requests, failures)
        })
    });
    let (mut latencies, mut requests, mut failures) = (Vec::new(), 0, 0);
    for user in futures::future::join_all(users).await {
        let (user_latencies, user_requests, user_failures) = user.expect("a virtual user panicked");
        latencies.extend(user_latencies);
        requests += user_requests;
        failures += user_failures;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{{\"flows_per_s\":{:.1},\"requests_per_s\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"failed\":{failures}}}",
        latencies.len() as f64 / elapsed,
        requests as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

/// argon2id's own rate on this core: one memory reused by every hash (as ferrid's hashing
/// threads do), so the ceiling is the algorithm's, not the allocator's.
fn argon2_rate(args: &[String]) {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    let memory = u32::try_from(number(args, 0, "MEMORY_KIB")).expect("MEMORY_KIB fits u32");
    let iterations = u32::try_from(number(args, 1, "ITERATIONS")).expect("ITERATIONS fits u32");
    let seconds = number(args, 2, "SECONDS");
    let params = Params::new(memory, iterations, 1, None).expect("valid argon2 parameters");
    let mut blocks = vec![Block::new(); params.block_count()];
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut output = [0u8; 32];
    let started = Instant::now();
    let mut hashes = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        hasher
            .hash_password_into_with_memory(b"violet-harbour-42", b"sixteen-byte-sal", &mut output, &mut blocks)
            .expect("argon2id hashes");
        hashes += 1;
    }
    println!("{{\"argon2id_hashes_per_s\":{:.1}}}", hashes as f64 / started.elapsed().as_secs_f64());
}
