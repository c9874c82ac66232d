//! The archive's moving parts outside the store: what text of a message is
//! indexed (decoded, so ISO-2022-JP and Shift_JIS mail is found by a UTF-8
//! query) and the indexer that fills the full-text rows behind the SMTP path. Rows themselves: `store/sqlite/archive.rs`.

use std::sync::Arc;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use tracing::warn;

use crate::store::{ArchiveText, Store, UnindexedArchive};

/// The searchable text of an archived message: its decoded subject, the
/// addresses of envelope and header, the body as text, attachment names.
pub fn text_of(a: &UnindexedArchive) -> ArchiveText {
    let (raw, sender, recipients) = (&a.body[..], &a.sender, &a.recipients);
    let known = ArchiveText { id: a.id, created: a.created, ..ArchiveText::default() };
    let Some(m) = MessageParser::default().parse(raw) else {
        return ArchiveText {
            addresses: format!("{sender} {recipients}"),
            body: String::from_utf8_lossy(raw).into_owned(),
            ..known
        };
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
    ArchiveText {
        subject: m.subject().unwrap_or("").to_string(),
        addresses,
        body,
        attachments: attachments.join("\n"),
        ..known
    }
}

/// Indexes up to `batch` archived messages not indexed yet; returns how many.
pub async fn index_pending(store: &Store, batch: usize) -> Result<usize, crate::store::StoreError> {
    let rows = store.archive_unindexed(batch).await?;
    let n = rows.len();
    if n == 0 {
        return Ok(0);
    }
    let texts = tokio::task::spawn_blocking(move || rows.iter().map(text_of).collect::<Vec<_>>())
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
        let archived = UnindexedArchive {
            id: crate::ids::Id(7),
            created: 0,
            sender: "a@b.test".into(),
            recipients: "c@d.test".into(),
            body: raw.to_vec(),
        };
        let t = text_of(&archived);
        assert_eq!((t.id, t.subject.as_str()), (crate::ids::Id(7), "会議"));
        assert!(t.addresses.contains("c@d.test"));
        assert!(t.body.contains("議事録を送ります"), "{}", t.body);
    }
}
