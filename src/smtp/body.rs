//! The message body: DATA (dot-stuffed, ended by CRLF.CRLF) or BDAT chunks
//! (RFC 3030, counted octets), then the commit in `transaction.rs`.
//!
//! Both read the whole body before answering, so a refusal never leaves
//! unread message text to be taken for commands. A BDAT chunk is read even
//! when the transaction cannot take it (no MAIL, no recipient, too big),
//! and only then answered.

use std::time::{Duration, Instant};

use tracing::info;

use super::data::{DotReader, Progress};
use super::session::{Flow, Session};
use super::transaction::Transaction;
use crate::connection::ConnError;

impl Session {
    /// Whether the transaction may take a body now; answers the client when not.
    async fn body_allowed(&mut self, verb: &str) -> bool {
        let (code, esc, text) = match self.tx.as_ref() {
            None => (503, "5.5.1", format!("Need MAIL and RCPT before {verb}")),
            Some(t) if t.recipients() == 0 => (554, "5.5.1", "No valid recipients".into()),
            Some(t) if verb == "DATA" && t.chunks.is_some() => {
                (503, "5.5.1", "DATA after BDAT: send the rest with BDAT".into())
            }
            Some(_) => return true,
        };
        self.reply(code, esc, &text);
        if verb == "BDAT" {
            // The chunk was sent anyway; RFC 3030 §3 wants the transaction gone.
            self.tx = None;
        }
        let _ = self.client_error().await;
        false
    }

    pub(super) async fn data(&mut self) -> Result<Flow, ConnError> {
        if !self.body_allowed("DATA").await {
            return Ok(Flow::Continue);
        }
        self.reply(354, "", "Start mail input; end with <CRLF>.<CRLF>");
        self.conn.flush().await?;
        let started = Instant::now();
        let deadline = Duration::from_secs(self.sh.cfg.smtp.data_timeout_secs);
        let mut reader = DotReader::new(self.sh.cfg.smtp.max_message_size);
        loop {
            // The whole body must arrive within the data timeout, so a client
            // trickling one byte a minute cannot hold a slot forever.
            let left = deadline.saturating_sub(started.elapsed()).min(self.timeout());
            if left.is_zero() {
                return Err(ConnError::Timeout(deadline));
            }
            let chunk = match self.conn.read_bulk(left).await {
                Ok(c) => c,
                Err(e) => {
                    info!(target: "hato::smtp", "connection lost during DATA; nothing was accepted: {e}");
                    return Err(e);
                }
            };
            if let Progress::Done(n) = reader.feed(&chunk) {
                self.conn.unread(&chunk[n..]);
                break;
            }
        }
        let Some(tx) = self.tx.take() else { return Ok(Flow::Continue) };
        if reader.oversize() {
            self.too_big();
            return Ok(Flow::Continue);
        }
        Ok(self.accept(tx, reader.into_body()).await)
    }

    /// One BDAT chunk: read `size` octets, keep them, and on LAST commit the message.
    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<Flow, ConnError> {
        let max = self.sh.cfg.smtp.max_message_size;
        let mut kept = self.tx.as_mut().map(|t| t.chunks.take().unwrap_or_default());
        let mut oversize = false;
        let deadline = Duration::from_secs(self.sh.cfg.smtp.data_timeout_secs);
        let read = self.conn.read_counted(size, self.timeout(), |b| {
            if let Some(k) = kept.as_mut() {
                if k.len() + b.len() <= max {
                    k.extend_from_slice(b);
                } else {
                    oversize = true;
                }
            }
        });
        match tokio::time::timeout(deadline, read).await {
            Err(_) => return Err(ConnError::Timeout(deadline)),
            Ok(Err(e)) => {
                info!(target: "hato::smtp", "connection lost during BDAT; nothing was accepted: {e}");
                return Err(e);
            }
            Ok(Ok(())) => {}
        }
        if !self.body_allowed("BDAT").await {
            return Ok(Flow::Continue);
        }
        if oversize {
            self.tx = None;
            self.too_big();
            return Ok(Flow::Continue);
        }
        let body = kept.unwrap_or_default();
        if !last {
            let total = body.len();
            if let Some(t) = self.tx.as_mut() {
                t.chunks = Some(body);
            }
            self.reply(250, "2.0.0", &format!("{size} octets received ({total} in all)"));
            return Ok(Flow::Continue);
        }
        let Some(tx) = self.tx.take() else { return Ok(Flow::Continue) };
        Ok(self.accept(tx, body).await)
    }

    fn too_big(&mut self) {
        let max = self.sh.cfg.smtp.max_message_size;
        info!(target: "hato::smtp", "rejected: message over {max} bytes");
        self.reply(552, "5.3.4", &format!("Message too big; the limit is {max} bytes"));
    }

    /// Commits a complete body and counts the outcome.
    async fn accept(&mut self, tx: Transaction, body: Vec<u8>) -> Flow {
        let (rcpts, size) = (tx.recipients() as u64, body.len() as u64);
        let began = Instant::now();
        let flow = self.commit(tx, body).await;
        crate::stats::ACCEPT_LATENCY.observe(began.elapsed());
        let s = &crate::stats::STATS;
        if self.last_code < 300 {
            crate::stats::add(&s.received_messages, 1);
            crate::stats::add(&s.received_bytes, size);
            crate::stats::add(&s.received_recipients, rcpts);
        } else {
            crate::stats::add(&s.rejected_messages, 1);
        }
        flow
    }
}
