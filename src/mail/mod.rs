//! Email delivery (issue 7 item 7): the messages ferrid sends, rendered from the templates in
//! `templates/` (the only place mail wording lives), a durable outbox that requests write to,
//! and a background sender that delivers through SMTP or, without `FERRID_SMTP_URL`, into
//! `.eml` files under the data directory.
//!
//! The message kinds are what the account flows need: email verification and the
//! "someone tried to register" notice (registration), the reset link and the "password changed"
//! notice (password reset and change), and the "which address do I use" hint.
//!
//! Outbox rows hold the rendered bodies, so one-time codes and links rest in the database until
//! the mail is sent: the sender blanks the bodies as soon as a mail is sent or given up on, and
//! bodies never reach a log line or `last_error`.

mod message;
mod outbox;
mod sender;
mod templates;
mod transport;

pub use message::{Mail, MailKind, NewOriginNotice, issuer_link, mailbox, mask_address};
pub use outbox::{ClaimedMail, MailStatus, Outbox, OutboxEntry};
pub use sender::{MailSender, SendPolicy, spawn_sender};
pub use transport::Transport;

/// Failures of the mail layer, converted once at the domain edge.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template failed to render (a bug caught by the template tests).
    #[error("mail template {0} did not render")]
    Template(&'static str),
    #[error("invalid mail address")]
    InvalidAddress,
    #[error("the mail could not be built: {0}")]
    Build(String),
    /// The transport refused or could not be reached; the outbox retries.
    #[error("{0}")]
    Transport(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
