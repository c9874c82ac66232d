//! The archive's moving parts outside the store: what text of a message is
//! indexed (decoded, so ISO-2022-JP and Shift_JIS mail is found by a UTF-8
//! query) and the indexer that fills the full-text rows behind the SMTP path. Rows themselves: `store/sqlite/archive.rs`.

use std::sync::Arc;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use tracing::warn;

use crate::store::Store;

/// (subject, addresses, body text, attachment names) of a raw message.
pub fn text_of(raw: &[u8], sender: &str, recipients: &str) -> (String, String, String, String) {
    let Some(m) = MessageParser::default().parse(raw) else {
        return (
            String::new(),
            format!("{sender} {recipients}"),
            String::from_utf8_lossy(raw).into_owned(),
            String::new(),
        );
    };
    let s = crate::summary::Summary::of(raw);
    let addresses = format!("{sender} {recipients} {} {} {}", s.from, s.to, s.cc);
    let mut body = String::new();
    for i in 0..m.text_body_count() {
        if let Some(t) = m.body_text(i) {
            body.push_str(&t);
            body.push('\n');
        }
    }
    if m.text_body_count() == 0 {
        // HTML only: mail-parser's body_text turns it into text.
        for i in 0..m.html_body_count() {
            if let Some(t) = m.body_text(i) {
                body.push_str(&t);
                body.push('\n');
            }
        }
    }
    let attachments: Vec<String> = m.attachments().filter_map(|a| a.attachment_name().map(str::to_string)).collect();
    (m.subject().unwrap_or("").to_string(), addresses, body, attachments.join("\n"))
}

/// Indexes up to `batch` archived messages not indexed yet; returns how many.
pub async fn index_pending(store: &Store, batch: usize) -> Result<usize, crate::store::StoreError> {
    let rows = store.archive_unindexed(batch).await?;
    let n = rows.len();
    if n == 0 {
        return Ok(0);
    }
    let texts = tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .map(|(id, sender, rcpts, raw)| {
                let (a, b, c, d) = text_of(&raw, &sender, &rcpts);
                (id, a, b, c, d)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| crate::store::StoreError::Backend(format!("indexing task failed: {e}")))?;
    store.archive_index(texts).await?;
    Ok(n)
}

/// Indexes newly archived messages, a batch at a time, forever.
pub async fn indexer(store: Arc<Store>) {
    const BATCH: usize = 200;
    loop {
        match index_pending(&store, BATCH).await {
            // More may be waiting: go on without a pause.
            Ok(BATCH) => continue,
            Ok(_) => {}
            Err(e) => {
                warn!(target: "hato::archive", "indexing failed: {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_decoded_from_any_charset() {
        // ISO-2022-JP body and subject: 会議 / 議事録を送ります
        let raw = b"From: a@b.test\r\nSubject: =?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\x1b$B5D;vO?$rAw$j$^$9\x1b(B\r\n";
        let (subject, addresses, body, _) = text_of(raw, "a@b.test", "c@d.test");
        assert_eq!(subject, "会議");
        assert!(addresses.contains("c@d.test"));
        assert!(body.contains("議事録を送ります"), "{body}");
    }
}
