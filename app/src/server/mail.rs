//! Outgoing mail (invites) over SMTP, when `GATEHOUSE_SMTP_URL` is set. The admin always
//! gets the link on screen as well; a mail failure is logged and never loses the invite.
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::DomainError;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The transport holds the SMTP credentials: only the sender is printed.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain, for a local relay), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://host` (TLS), with optional `user:password@`.
    pub fn new(url: &str, from: &str) -> Result<Self, DomainError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| DomainError::Internal(format!("SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from.parse().map_err(|e| DomainError::Internal(format!("SMTP from address: {e}")))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send_invite(&self, to: &str, workspace_name: &str, inviter: &str, link: &str) -> Result<(), DomainError> {
        let to: Mailbox = to.parse().map_err(|_| DomainError::Invalid("Enter a valid email address.".into()))?;
        let body = format!(
            "{inviter} invited you to join {workspace_name} on Gatehouse.\n\n\
             Open this link within 7 days to choose your password and join:\n{link}\n\n\
             If you didn't expect this, ignore this message.\n"
        );
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Join {workspace_name} on Gatehouse"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| DomainError::Internal(format!("building mail: {e}")))?;
        self.transport.send(msg).await.map_err(|e| DomainError::Internal(format!("sending mail: {e}")))?;
        Ok(())
    }
}
