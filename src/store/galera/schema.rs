//! Versioned schema for MariaDB. Each migration is a list of statements
//! that are safe to run twice (IF NOT EXISTS everywhere): Galera runs DDL
//! in total order on every node, so when two nodes start at once both run
//! the same migration and both succeed; `schema_version` records how far the
//! database has come. Never edit a released migration: add the next one.
//!
//! The tables mirror SQLite's (`store/sqlite/schema.rs`) with three
//! differences: bodies are split into rows of at most 1 MiB (`blob_chunks`),
//! there are no foreign keys (each transaction deletes what it owns, which
//! keeps certification keys small and explicit), and the archive's
//! full-text index is not here but on each node (`store/archive_index.rs`).
//! Every table has a primary key, as Galera requires.

use super::sql::{self, Stmt};

use super::cluster::Cluster;
use crate::store::StoreError;

const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE IF NOT EXISTS domains (
        name      VARCHAR(255) PRIMARY KEY,
        catch_all VARCHAR(255) NULL,
        created   BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS accounts (
        address       VARCHAR(255) PRIMARY KEY,
        domain        VARCHAR(255) NOT NULL,
        password_hash VARCHAR(255) NOT NULL,
        display_name  VARCHAR(255) NOT NULL DEFAULT '',
        quota_bytes   BIGINT NOT NULL DEFAULT 0,
        used_bytes    BIGINT NOT NULL DEFAULT 0,
        enabled       BOOLEAN NOT NULL DEFAULT TRUE,
        created       BIGINT NOT NULL,
        role          VARCHAR(32) NOT NULL DEFAULT 'user',
        KEY accounts_domain (domain))",
        "CREATE TABLE IF NOT EXISTS aliases (
        address VARCHAR(255) PRIMARY KEY,
        domain  VARCHAR(255) NOT NULL,
        target  VARCHAR(255) NOT NULL,
        KEY aliases_domain (domain))",
        "CREATE TABLE IF NOT EXISTS `groups` (
        address VARCHAR(255) PRIMARY KEY,
        domain  VARCHAR(255) NOT NULL,
        name    VARCHAR(255) NOT NULL DEFAULT '',
        KEY groups_domain (domain))",
        "CREATE TABLE IF NOT EXISTS group_members (
        group_address VARCHAR(255) NOT NULL,
        member        VARCHAR(255) NOT NULL,
        PRIMARY KEY (group_address, member))",
        "CREATE TABLE IF NOT EXISTS mailboxes (
        id               BIGINT PRIMARY KEY,
        account          VARCHAR(255) NOT NULL,
        name             VARCHAR(255) NOT NULL,
        special_use      VARCHAR(32) NULL,
        uidvalidity      BIGINT NOT NULL,
        uidnext          BIGINT NOT NULL DEFAULT 1,
        highestmodseq    BIGINT NOT NULL DEFAULT 1,
        subscribed       BOOLEAN NOT NULL DEFAULT TRUE,
        first_recent_uid BIGINT NOT NULL DEFAULT 1,
        expunge_floor    BIGINT NOT NULL DEFAULT 0,
        UNIQUE KEY mailboxes_name (account, name))",
        // Bodies are content-addressed (sha256) and shared by every copy of a
        // message; their bytes are in rows of at most 1 MiB (galera/blob.rs).
        "CREATE TABLE IF NOT EXISTS blobs (
        id   CHAR(64) CHARACTER SET ascii PRIMARY KEY,
        size BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS blob_chunks (
        blob_id CHAR(64) CHARACTER SET ascii NOT NULL,
        seq     INT NOT NULL,
        data    MEDIUMBLOB NOT NULL,
        PRIMARY KEY (blob_id, seq))",
        "CREATE TABLE IF NOT EXISTS summaries (
        blob_id   CHAR(64) CHARACTER SET ascii PRIMARY KEY,
        subject   TEXT NOT NULL,
        from_addr TEXT NOT NULL,
        to_addr   TEXT NOT NULL,
        cc        TEXT NOT NULL,
        bcc       TEXT NOT NULL,
        sent_ymd  BIGINT NULL)",
        "CREATE TABLE IF NOT EXISTS headers (
        blob_id CHAR(64) CHARACTER SET ascii PRIMARY KEY,
        header  MEDIUMBLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS messages (
        id              BIGINT PRIMARY KEY,
        mailbox_id      BIGINT NOT NULL,
        uid             BIGINT NOT NULL,
        blob_id         CHAR(64) CHARACTER SET ascii NOT NULL,
        return_path     VARCHAR(1000) NOT NULL,
        has_return_path BOOLEAN NOT NULL DEFAULT TRUE,
        size            BIGINT NOT NULL,
        flags           TEXT NOT NULL,
        internal_date   BIGINT NOT NULL,
        modseq          BIGINT NOT NULL,
        UNIQUE KEY messages_uid (mailbox_id, uid),
        KEY messages_modseq (mailbox_id, modseq),
        KEY messages_blob (blob_id))",
        "CREATE TABLE IF NOT EXISTS expunged (
        mailbox_id BIGINT NOT NULL,
        uid        BIGINT NOT NULL,
        modseq     BIGINT NOT NULL,
        PRIMARY KEY (mailbox_id, uid),
        KEY expunged_modseq (mailbox_id, modseq))",
        "CREATE TABLE IF NOT EXISTS counters (
        name  VARCHAR(64) PRIMARY KEY,
        value BIGINT NOT NULL)",
        "INSERT IGNORE INTO counters (name, value) VALUES ('uidvalidity', 0), ('spam_trained', 0), ('ham_trained', 0)",
        "CREATE TABLE IF NOT EXISTS queued_messages (
        id         BIGINT PRIMARY KEY,
        blob_id    CHAR(64) CHARACTER SET ascii NOT NULL,
        sender     VARCHAR(1000) NOT NULL,
        received   BIGINT NOT NULL,
        size       BIGINT NOT NULL,
        client_ip  VARCHAR(64) NOT NULL,
        helo       VARCHAR(1000) NOT NULL,
        auth_user  VARCHAR(255) NULL,
        message_id VARCHAR(1000) NOT NULL DEFAULT '',
        subject    TEXT NOT NULL,
        KEY queued_messages_blob (blob_id))",
        "CREATE TABLE IF NOT EXISTS queue (
        id            BIGINT PRIMARY KEY,
        message       BIGINT NOT NULL,
        recipient     VARCHAR(1000) NOT NULL,
        local_account VARCHAR(255) NULL,
        domain        VARCHAR(255) NOT NULL,
        state         VARCHAR(16) NOT NULL DEFAULT 'ready',
        attempts      BIGINT NOT NULL DEFAULT 0,
        next_attempt  BIGINT NOT NULL,
        last_error    TEXT NOT NULL,
        created       BIGINT NOT NULL,
        lease_node    VARCHAR(255) NULL,
        lease_until   BIGINT NULL,
        KEY queue_due (state, next_attempt),
        KEY queue_message (message),
        KEY queue_lease (lease_node))",
        "CREATE TABLE IF NOT EXISTS quarantine (
        id         BIGINT PRIMARY KEY,
        created    BIGINT NOT NULL,
        blob_id    CHAR(64) CHARACTER SET ascii NOT NULL,
        size       BIGINT NOT NULL,
        sender     VARCHAR(1000) NOT NULL,
        client_ip  VARCHAR(64) NOT NULL,
        helo       VARCHAR(1000) NOT NULL,
        auth_user  VARCHAR(255) NULL,
        message_id VARCHAR(1000) NOT NULL,
        subject    TEXT NOT NULL,
        filter     VARCHAR(64) NOT NULL,
        reason     TEXT NOT NULL,
        KEY quarantine_created (created),
        KEY quarantine_blob (blob_id))",
        "CREATE TABLE IF NOT EXISTS quarantine_rcpts (
        quarantine_id BIGINT NOT NULL,
        seq           INT NOT NULL,
        address       VARCHAR(1000) NOT NULL,
        local_account VARCHAR(255) NULL,
        PRIMARY KEY (quarantine_id, seq),
        KEY quarantine_rcpts_account (local_account))",
        // archived_at is when the row was written (created is the message's own
        // date for imported mail): each node's index follows the archive by it.
        "CREATE TABLE IF NOT EXISTS archive (
        id          BIGINT PRIMARY KEY,
        created     BIGINT NOT NULL,
        archived_at BIGINT NOT NULL,
        direction   VARCHAR(16) NOT NULL,
        disposition VARCHAR(16) NOT NULL,
        reason      TEXT NOT NULL,
        sender      VARCHAR(1000) NOT NULL,
        recipients  TEXT NOT NULL,
        subject     TEXT NOT NULL,
        message_id  VARCHAR(1000) NOT NULL,
        blob_id     CHAR(64) CHARACTER SET ascii NOT NULL,
        size        BIGINT NOT NULL,
        legal_hold  BOOLEAN NOT NULL DEFAULT FALSE,
        KEY archive_created (created),
        KEY archive_archived (archived_at, id),
        KEY archive_message_id (message_id(191)),
        KEY archive_blob (blob_id))",
        "CREATE TABLE IF NOT EXISTS vacations (
        account VARCHAR(255) PRIMARY KEY,
        subject TEXT NOT NULL,
        body    TEXT NOT NULL,
        days    INT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS vacation_replies (
        account   VARCHAR(255) NOT NULL,
        sender    VARCHAR(255) NOT NULL,
        last_sent BIGINT NOT NULL,
        PRIMARY KEY (account, sender))",
        "CREATE TABLE IF NOT EXISTS spam_tokens (
        hash BIGINT PRIMARY KEY,
        spam BIGINT NOT NULL,
        ham  BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS dkim_keys (
        domain      VARCHAR(255) PRIMARY KEY,
        selector    VARCHAR(255) NOT NULL,
        algorithm   VARCHAR(32) NOT NULL,
        private_key BLOB NOT NULL,
        public_key  BLOB NOT NULL,
        created     BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS sieve_scripts (
        account VARCHAR(255) NOT NULL,
        name    VARCHAR(255) NOT NULL,
        script  MEDIUMTEXT NOT NULL,
        active  BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (account, name))",
        // id is made before the first attempt (a retried commit finds it); seq
        // orders entries of the same second.
        "CREATE TABLE IF NOT EXISTS audit_log (
        id     BIGINT PRIMARY KEY,
        seq    BIGINT NOT NULL AUTO_INCREMENT,
        at     BIGINT NOT NULL,
        actor  VARCHAR(255) NOT NULL,
        ip     VARCHAR(64) NOT NULL,
        action VARCHAR(64) NOT NULL,
        target VARCHAR(1000) NOT NULL,
        detail TEXT NOT NULL,
        UNIQUE KEY audit_log_seq (seq),
        KEY audit_log_at (at))",
    ],
    &[
        // 2: web console sessions (crate::web::session): a login made through
        // one node holds on every node.
        "CREATE TABLE IF NOT EXISTS web_sessions (
        `key`     VARCHAR(64) PRIMARY KEY,
        user      VARCHAR(255) NOT NULL,
        role      VARCHAR(32) NOT NULL,
        csrf      VARCHAR(64) NOT NULL,
        last_seen BIGINT NOT NULL,
        KEY web_sessions_user (user),
        KEY web_sessions_last_seen (last_seen))",
    ],
    &[
        // 3: failed logins (crate::directory::login): a lockout holds on
        // every node. One row per failure, so nodes counting at once never
        // meet on a row.
        "CREATE TABLE IF NOT EXISTS auth_failures (
            id   BIGINT PRIMARY KEY,
            at   BIGINT NOT NULL,
            ip   VARCHAR(64) NOT NULL,
            user VARCHAR(255) NOT NULL,
            KEY auth_failures_ip (ip, at),
            KEY auth_failures_user (user, at),
            KEY auth_failures_at (at))",
    ],
    &[
        // 4: settings every member applies (crate::cluster::shared): what the
        // console changes on one node holds on all.
        "CREATE TABLE IF NOT EXISTS shared_settings (
            name    VARCHAR(64) PRIMARY KEY,
            version BIGINT NOT NULL,
            value   MEDIUMBLOB NOT NULL,
            node    VARCHAR(255) NOT NULL,
            at      BIGINT NOT NULL)",
    ],
    &[
        // 5: what senders asked to be told (RFC 3461: RET, ENVID, NOTIFY,
        // ORCPT), and whether a delay report went out for an entry.
        // IF NOT EXISTS: nodes that start together may both run it.
        "ALTER TABLE queued_messages ADD COLUMN IF NOT EXISTS dsn_ret VARCHAR(4) NULL,
            ADD COLUMN IF NOT EXISTS dsn_envid VARCHAR(100) NULL",
        "ALTER TABLE queue ADD COLUMN IF NOT EXISTS dsn_notify VARCHAR(32) NULL,
            ADD COLUMN IF NOT EXISTS dsn_orcpt VARCHAR(500) NULL,
            ADD COLUMN IF NOT EXISTS delay_warned BOOLEAN NOT NULL DEFAULT FALSE",
    ],
    &[
        // 6: subscriptions apart from mailboxes: RFC 3501 §6.3.6 keeps a name
        // subscribed when its mailbox is deleted (LIST shows it \NonExistent).
        "CREATE TABLE IF NOT EXISTS subscriptions (
            account VARCHAR(255) NOT NULL,
            name    VARCHAR(255) NOT NULL,
            PRIMARY KEY (account, name))",
        "INSERT IGNORE INTO subscriptions (account, name) SELECT account, name FROM mailboxes WHERE subscribed",
        "ALTER TABLE mailboxes DROP COLUMN IF EXISTS subscribed",
    ],
    &[
        // 7: when each queued message was accepted, to the microsecond: a
        // claim hands entries out in that order, so mail is filed as it came.
        "ALTER TABLE queue ADD COLUMN IF NOT EXISTS accepted_us BIGINT NOT NULL DEFAULT 0",
    ],
];

/// Brings the database to the newest schema this Hato knows.
pub async fn migrate(cluster: &Cluster) -> Result<(), StoreError> {
    let version: u64 = cluster
        .write(super::cluster::Route::Local, async |tx| {
            sql::batch(tx, &[Stmt::new("CREATE TABLE IF NOT EXISTS schema_version (version INT PRIMARY KEY)", vec![])])
                .await?;
            Ok(sql::one::<Option<u64>>(tx, "SELECT MAX(version) FROM schema_version", ()).await?.flatten().unwrap_or(0))
        })
        .await?;
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {version}, newer than this Hato knows ({}); run the newer Hato",
            MIGRATIONS.len()
        )));
    }
    for (i, statements) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let n = i as u64 + 1;
        cluster
            .write(super::cluster::Route::Local, async move |tx| {
                let ddl: Vec<Stmt> = statements.iter().map(|s| Stmt::new(*s, vec![])).collect();
                sql::batch(tx, &ddl).await?;
                sql::run(tx, "INSERT IGNORE INTO schema_version (version) VALUES (?)", (n,)).await?;
                Ok(())
            })
            .await?;
        tracing::info!(target: "hato::store", "Galera database migrated to schema version {n}");
    }
    Ok(())
}
