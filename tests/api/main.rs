//! ferrid's integration suite: one binary, one file per endpoint or area. Every test starts the
//! real server in-process on a random port. Tests declared with `on_every_backend!` run once on
//! the embedded defaults (SQLite + in-process store) and once on PostgreSQL + Redis when
//! `FERRID_TEST_DATABASE_URL` / `FERRID_TEST_REDIS_URL` are set (CI sets them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod helpers;

mod access_control;
mod access_log;
mod access_token_formats;
mod accounts;
mod admin_access;
mod admin_audit;
mod admin_clients;
mod admin_guard;
mod admin_keys;
mod admin_sessions;
mod admin_users;
mod audit_trail;
mod backchannel_logout;
mod browser;
mod browser_pages;
mod cli;
mod cluster;
mod container_probe;
mod cors;
mod dpop;
mod faults;
mod federation;
mod graceful_shutdown;
mod hardening;
mod health;
mod hostile_inputs;
mod introspect_revoke;
mod jose_interop;
mod key_ring;
mod lifetimes;
mod logout;
mod mail;
mod maintenance;
mod metrics;
mod migrations;
mod multi_node;
mod oidc;
mod oidc_errors;
mod oidc_jose;
mod openapi;
mod pages;
mod password_reset;
mod private_key_jwt;
mod profile;
mod rate_limits;
mod refresh_token_store;
mod registration;
mod schemathesis;
mod serve_process;
mod short_lived_store;
mod sign_ins;
mod smtp_sink;
mod suspicious_refresh;
mod swagger;
mod totp;
mod trusted_proxies;
