//! Versioned schema. Each migration runs once, in order, inside a transaction;
//! `PRAGMA user_version` records how far a database has come. Never edit a
//! released migration: add the next one.

use rusqlite::Connection;

use crate::store::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: directory, mailboxes, bodies, queue.
    r#"
    CREATE TABLE domains (
        name       TEXT PRIMARY KEY,
        catch_all  TEXT,
        created    INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        address       TEXT PRIMARY KEY,
        domain        TEXT NOT NULL REFERENCES domains(name),
        password_hash TEXT NOT NULL,
        display_name  TEXT NOT NULL DEFAULT '',
        quota_bytes   INTEGER NOT NULL DEFAULT 0,
        used_bytes    INTEGER NOT NULL DEFAULT 0,
        enabled       INTEGER NOT NULL DEFAULT 1,
        created       INTEGER NOT NULL
    );
    CREATE INDEX accounts_domain ON accounts(domain);
    CREATE TABLE aliases (
        address TEXT PRIMARY KEY,
        domain  TEXT NOT NULL REFERENCES domains(name),
        target  TEXT NOT NULL
    );
    CREATE TABLE groups (
        address TEXT PRIMARY KEY,
        domain  TEXT NOT NULL REFERENCES domains(name),
        name    TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE group_members (
        group_address TEXT NOT NULL REFERENCES groups(address) ON DELETE CASCADE,
        member        TEXT NOT NULL,
        PRIMARY KEY (group_address, member)
    );
    CREATE TABLE mailboxes (
        id            INTEGER PRIMARY KEY,
        account       TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        special_use   TEXT,
        uidvalidity   INTEGER NOT NULL,
        uidnext       INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        subscribed    INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account, name)
    );
    -- Bodies are content-addressed (sha256) and shared by every copy of a message.
    CREATE TABLE blobs (
        id   TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY,
        mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid           INTEGER NOT NULL,
        blob_id       TEXT NOT NULL,
        return_path   TEXT NOT NULL,
        size          INTEGER NOT NULL,
        flags         TEXT NOT NULL DEFAULT '',
        internal_date INTEGER NOT NULL,
        modseq        INTEGER NOT NULL,
        UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX messages_blob ON messages(blob_id);
    CREATE TABLE queued_messages (
        id         INTEGER PRIMARY KEY,
        blob_id    TEXT NOT NULL,
        sender     TEXT NOT NULL,
        received   INTEGER NOT NULL,
        size       INTEGER NOT NULL,
        client_ip  TEXT NOT NULL,
        helo       TEXT NOT NULL,
        auth_user  TEXT,
        message_id TEXT NOT NULL DEFAULT '',
        subject    TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX queued_messages_blob ON queued_messages(blob_id);
    CREATE TABLE queue (
        id            INTEGER PRIMARY KEY,
        message       INTEGER NOT NULL REFERENCES queued_messages(id),
        recipient     TEXT NOT NULL,
        local_account TEXT,
        domain        TEXT NOT NULL,
        state         TEXT NOT NULL DEFAULT 'ready',
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_attempt  INTEGER NOT NULL,
        last_error    TEXT NOT NULL DEFAULT '',
        created       INTEGER NOT NULL
    );
    CREATE INDEX queue_due ON queue(state, next_attempt);
    CREATE INDEX queue_message ON queue(message);
    "#,
    // 2: messages a client APPENDed are stored exactly as given, without the
    // Return-Path line that local delivery adds.
    r#"
    ALTER TABLE messages ADD COLUMN has_return_path INTEGER NOT NULL DEFAULT 1;
    "#,
    // 3: CONDSTORE/QRESYNC. Expunged UIDs are remembered with the modseq of
    // their removal so a client can be told what vanished since it last synced,
    // and changes are found by modseq without reading the whole mailbox.
    r#"
    CREATE TABLE expunged (
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid        INTEGER NOT NULL,
        modseq     INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
    CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
    -- \Recent (RFC 3501): messages from this UID on have not been seen by a SELECT yet.
    ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
    -- Decoded header facts per body (crate::summary), filled when the body is stored.
    CREATE TABLE summaries (
        blob_id   TEXT PRIMARY KEY,
        subject   TEXT NOT NULL,
        from_addr TEXT NOT NULL,
        to_addr   TEXT NOT NULL,
        cc        TEXT NOT NULL,
        bcc       TEXT NOT NULL,
        sent_ymd  INTEGER
    ) WITHOUT ROWID;
    -- The raw header block of each body, apart from the summaries (which
    -- header SEARCH scans and must stay small): FETCH of header fields reads it.
    CREATE TABLE headers (
        blob_id TEXT PRIMARY KEY,
        header  BLOB NOT NULL
    );
    -- The last UIDVALIDITY handed out: a mailbox deleted and re-created (or an
    -- account removed and re-added) within one second must not get the old value.
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) SELECT 'uidvalidity', coalesce(max(uidvalidity), 0) FROM mailboxes;
    "#,
    // 4: messages held by a filter (crate::filter), with their envelope.
    r#"
    CREATE TABLE quarantine (
        id         INTEGER PRIMARY KEY,
        created    INTEGER NOT NULL,
        blob_id    TEXT NOT NULL,
        size       INTEGER NOT NULL,
        sender     TEXT NOT NULL,
        client_ip  TEXT NOT NULL,
        helo       TEXT NOT NULL,
        auth_user  TEXT,
        message_id TEXT NOT NULL,
        subject    TEXT NOT NULL,
        filter     TEXT NOT NULL,
        reason     TEXT NOT NULL
    );
    CREATE INDEX quarantine_created ON quarantine(created);
    CREATE INDEX quarantine_blob ON quarantine(blob_id);
    CREATE TABLE quarantine_rcpts (
        quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
        address       TEXT NOT NULL,
        local_account TEXT
    );
    CREATE INDEX quarantine_rcpts_q ON quarantine_rcpts(quarantine_id);
    "#,
    // 5: the archive of every message that passed through (store/sqlite/archive.rs).
    r#"
    CREATE TABLE archive (
        id          INTEGER PRIMARY KEY,
        created     INTEGER NOT NULL,
        direction   TEXT NOT NULL,
        disposition TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        sender      TEXT NOT NULL,
        recipients  TEXT NOT NULL,
        subject     TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        blob_id     TEXT NOT NULL,
        size        INTEGER NOT NULL,
        legal_hold  INTEGER NOT NULL DEFAULT 0,
        indexed     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX archive_created ON archive(created);
    CREATE INDEX archive_message_id ON archive(message_id);
    CREATE INDEX archive_blob ON archive(blob_id);
    CREATE INDEX archive_unindexed ON archive(indexed) WHERE indexed = 0;
    CREATE VIRTUAL TABLE archive_text USING fts5(subject, addresses, body, attachments, tokenize = 'trigram');
    "#,
    // 6: vacation auto-replies (crate::vacation) and whom each has answered when.
    r#"
    CREATE TABLE vacations (
        account TEXT PRIMARY KEY REFERENCES accounts(address) ON DELETE CASCADE,
        subject TEXT NOT NULL,
        body    TEXT NOT NULL,
        days    INTEGER NOT NULL
    );
    CREATE TABLE vacation_replies (
        account   TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
        sender    TEXT NOT NULL,
        last_sent INTEGER NOT NULL,
        PRIMARY KEY (account, sender)
    ) WITHOUT ROWID;
    "#,
    // 7: what the Bayesian spam classifier has learnt (crate::spam::bayes):
    // per token (a 64-bit hash of it), how many spam and ham messages held it.
    r#"
    CREATE TABLE spam_tokens (
        hash INTEGER PRIMARY KEY,
        spam INTEGER NOT NULL,
        ham  INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('spam_trained', 0), ('ham_trained', 0);
    "#,
    // 8: DKIM signing keys, one per domain (crate::mailauth::keys).
    r#"
    CREATE TABLE dkim_keys (
        domain      TEXT PRIMARY KEY,
        selector    TEXT NOT NULL,
        algorithm   TEXT NOT NULL,
        private_key BLOB NOT NULL,
        public_key  BLOB NOT NULL,
        created     INTEGER NOT NULL
    );
    "#,
    // 9: users' Sieve scripts (crate::sieve, ManageSieve); at most one active per account.
    r#"
    CREATE TABLE sieve_scripts (
        account TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        script  TEXT NOT NULL,
        active  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, name)
    ) WITHOUT ROWID;
    "#,
    // 10: whether every stored body has its summaries and headers rows
    // (mailbox::backfill_summaries sets it once, so opening a big store does
    // not scan every body again).
    r#"
    INSERT INTO counters (name, value) VALUES ('summaries_complete', 0);
    "#,
    // 11: the expunge log is kept to its newest entries per mailbox; changes
    // at or below this modseq are no longer all known (mailbox::expunge).
    r#"
    ALTER TABLE mailboxes ADD COLUMN expunge_floor INTEGER NOT NULL DEFAULT 0;
    "#,
    // 12: who may administer what in the web console (crate::web), and the
    // audit log of every administrative action.
    r#"
    ALTER TABLE accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
    CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        ip     TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    "#,
    // 13: queue leases (store::Store::claim_due): which node delivers an
    // entry now, and until when its claim holds.
    r#"
    ALTER TABLE queue ADD COLUMN lease_node TEXT;
    ALTER TABLE queue ADD COLUMN lease_until INTEGER;
    "#,
    // 14: web console sessions (crate::web::session), in the store so that
    // on a cluster a login holds on every node.
    r#"
    CREATE TABLE web_sessions (
        key TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        role TEXT NOT NULL,
        csrf TEXT NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user);
    CREATE INDEX web_sessions_last_seen ON web_sessions(last_seen);
    "#,
    // 15: failed logins (crate::directory::login), in the store so that on a
    // cluster a lockout holds on every node.
    r#"
    CREATE TABLE auth_failures (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        ip TEXT NOT NULL,
        user TEXT NOT NULL
    );
    CREATE INDEX auth_failures_ip ON auth_failures(ip, at);
    CREATE INDEX auth_failures_user ON auth_failures(user, at);
    CREATE INDEX auth_failures_at ON auth_failures(at);
    "#,
    // 16: settings a cluster shares (crate::cluster::shared); on one node
    // only a record of the console's last changes.
    r#"
    CREATE TABLE shared_settings (
        name    TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        value   BLOB NOT NULL,
        node    TEXT NOT NULL,
        at      INTEGER NOT NULL
    );
    "#,
    // 17: what senders asked to be told (RFC 3461: RET, ENVID, NOTIFY,
    // ORCPT), and whether a delay report went out for an entry.
    r#"
    ALTER TABLE queued_messages ADD COLUMN dsn_ret TEXT;
    ALTER TABLE queued_messages ADD COLUMN dsn_envid TEXT;
    ALTER TABLE queue ADD COLUMN dsn_notify TEXT;
    ALTER TABLE queue ADD COLUMN dsn_orcpt TEXT;
    ALTER TABLE queue ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
    "#,
    // 18: subscriptions apart from mailboxes: RFC 3501 §6.3.6 keeps a name
    // subscribed when its mailbox is deleted (LIST shows it \NonExistent).
    r#"
    CREATE TABLE subscriptions (
        account TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        PRIMARY KEY (account, name)
    );
    INSERT INTO subscriptions (account, name) SELECT account, name FROM mailboxes WHERE subscribed = 1;
    ALTER TABLE mailboxes DROP COLUMN subscribed;
    "#,
    // 19: when each queued message was accepted, to the microsecond: a
    // claim hands entries out in that order, so mail is filed as it came.
    r#"
    ALTER TABLE queue ADD COLUMN accepted_us INTEGER NOT NULL DEFAULT 0;
    "#,
    // 20: the archive's full-text index keeps no copy of the text
    // (crate::store::fulltext); the indexer fills it again from the archive.
    r#"
    DROP TABLE archive_text;
    CREATE VIRTUAL TABLE archive_fts USING fts5(subject, addresses, body, attachments,
        tokenize = 'trigram', content = '', contentless_delete = 1);
    CREATE VIRTUAL TABLE archive_fts_vocab USING fts5vocab(archive_fts, 'row');
    UPDATE archive SET indexed = 0;
    "#,
    // 21: SELECT reads a mailbox's view (uid, size, flags, date, modseq of
    // every message) from this index alone; through the UNIQUE (mailbox_id,
    // uid) index it was a table lookup per message, half of a SELECT's time.
    r#"
    CREATE INDEX messages_view ON messages(mailbox_id, uid, modseq, size, internal_date, flags);
    "#,
    // 22: the archive's full-text index moves to a file of its own
    // (crate::store::archive_index); the indexer's first pass marks every
    // archive row the new file does not hold for indexing again.
    r#"
    DROP TABLE archive_fts_vocab;
    DROP TABLE archive_fts;
    "#,
];

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {version}, newer than this Hato knows ({}); \
             run the newer Hato or restore a backup",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(target: "hato::store", "database migrated to schema version {}", i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }

    /// Migration 18 keeps what was subscribed when the flag leaves `mailboxes`.
    #[test]
    fn subscriptions_carried_over() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate().take(17) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO domains (name, created) VALUES ('x.test', 0);
             INSERT INTO accounts (address, domain, password_hash, created) VALUES ('a@x.test', 'x.test', '', 0);
             INSERT INTO mailboxes (id, account, name, uidvalidity, subscribed) VALUES (1, 'a@x.test', 'On', 1, 1);
             INSERT INTO mailboxes (id, account, name, uidvalidity, subscribed) VALUES (2, 'a@x.test', 'Off', 2, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let subs: Vec<String> = conn
            .prepare("SELECT name FROM subscriptions")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(subs, ["On"]);
    }

    /// Migration 20 drops the full-text copies and has every archived message indexed again.
    #[test]
    fn archive_indexed_again_without_copies() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate().take(19) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO archive (id, created, direction, disposition, sender, recipients, subject, message_id, blob_id, size, indexed)
             VALUES (7, 0, 'inbound', 'delivered', 'a@x.test', 'b@x.test', 's', '<m@x>', 'b', 1, 1);
             INSERT INTO archive_text (rowid, subject, addresses, body, attachments) VALUES (7, 's', '', 'the whole text again', '');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let pending: i64 = conn.query_row("SELECT count(*) FROM archive WHERE indexed = 0", [], |r| r.get(0)).unwrap();
        assert_eq!(pending, 1);
        let old: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'archive_text'", [], |r| r.get(0)).unwrap();
        assert_eq!(old, 0);
        let fts: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE 'archive_fts%'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fts, 0, "migration 22 moved the index to a file of its own");
    }

    #[test]
    fn refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).unwrap_err().to_string().contains("newer"));
    }
}
