//! How a mail leaves: SMTP through lettre when `FERRID_SMTP_URL` is set, otherwise an `.eml`
//! file under `<FERRID_DATA_DIR>/mail/` (development, and machines without a relay).

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::client::{Tls, TlsParameters},
};
use tokio::io::AsyncWriteExt;
use url::Url;
use uuid::Uuid;

use super::{Mail, MailError};
use crate::config::Sensitive;

/// One SMTP exchange may take this long; the claim outlives it (see `SendPolicy::claim_for`).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Transport {
    from: Mailbox,
    via: Via,
}

#[derive(Clone)]
enum Via {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    /// SMTP when `smtp_url` is set (`smtp://` tries STARTTLS when offered, `smtps://` is TLS
    /// from the start), else files under `data_dir/mail`.
    pub fn new(from: Mailbox, smtp_url: Option<&Sensitive>, data_dir: &std::path::Path) -> Result<Self, MailError> {
        let via = match smtp_url {
            Some(url) => Via::Smtp(smtp_transport(url.expose())?),
            None => Via::Files(data_dir.join("mail")),
        };
        Ok(Self { from, via })
    }

    /// Sends `mail`; `id` (the outbox row) makes the Message-ID, so a mail sent twice after a
    /// lapsed claim is recognisably one message.
    pub async fn send(&self, id: Uuid, mail: &Mail) -> Result<(), MailError> {
        let message = self.message(id, mail)?;
        match &self.via {
            Via::Smtp(smtp) => match tokio::time::timeout(SEND_TIMEOUT, smtp.send(message)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(MailError::Transport(error.to_string())),
                Err(_) => Err(MailError::Transport("timed out".to_owned())),
            },
            Via::Files(dir) => {
                let path = dir.join(format!("{id}.eml"));
                // The body carries one-time codes: readable by ferrid's user only.
                let written = async {
                    tokio::fs::create_dir_all(dir).await?;
                    let mut options = tokio::fs::OpenOptions::new();
                    options.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    options.mode(0o600);
                    let mut file = options.open(&path).await?;
                    file.write_all(&message.formatted()).await?;
                    file.sync_all().await
                };
                written
                    .await
                    .map_err(|error| MailError::Transport(format!("cannot write {}: {error}", path.display())))?;
                tracing::info!(
                    kind = mail.kind.as_str(),
                    to = %mail.masked_recipient(),
                    file = %path.display(),
                    "mail written (no FERRID_SMTP_URL)"
                );
                Ok(())
            }
        }
    }

    fn message(&self, id: Uuid, mail: &Mail) -> Result<Message, MailError> {
        Message::builder()
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .from(self.from.clone())
            .to(mail.to.clone())
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text_body.clone(), mail.html_body.clone()))
            .map_err(|error| MailError::Build(error.to_string()))
    }
}

fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let parsed = Url::parse(url).map_err(|_| MailError::Transport("FERRID_SMTP_URL is not a URL".to_owned()))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let invalid = |error: lettre::transport::smtp::Error| MailError::Transport(format!("FERRID_SMTP_URL: {error}"));
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(invalid)?;
    // lettre's plain `smtp://` never upgrades; take STARTTLS whenever the server offers it.
    if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(key, _)| key == "tls") {
        builder = builder.tls(Tls::Opportunistic(TlsParameters::new(host).map_err(invalid)?));
    }
    Ok(builder.timeout(Some(SEND_TIMEOUT)).build())
}
