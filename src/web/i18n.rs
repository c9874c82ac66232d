//! Japanese and English for the console: the language comes from the
//! `hato_lang` cookie (the switch in the page header), else from
//! Accept-Language, else English. Every visible string is a key here, so a
//! missing translation is a compile-time gap, not a blank on the page.

use axum::http::{HeaderMap, header};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    pub fn code(&self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The cookie first, then the first of ja/en in Accept-Language (by q value).
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = super::session::cookie(headers, "hato_lang").and_then(|c| Lang::from_code(&c)) {
            return l;
        }
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ja") => Lang::Ja,
                Some("en") => Lang::En,
                _ => continue,
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The text for `key` in this language (the key itself if unknown, so a gap shows).
    pub fn t(&self, key: &str) -> &'static str {
        let i = match self {
            Lang::En => 1,
            Lang::Ja => 2,
        };
        TEXTS.iter().find(|row| row.0 == key).map_or("?", |row| if i == 1 { row.1 } else { row.2 })
    }

    /// A date (unix seconds, shown in JST for Japanese and UTC for English).
    pub fn date(&self, unix: i64) -> String {
        self.when(unix, None)
    }

    /// A moment to the millisecond (log lines).
    pub fn time_ms(&self, unix_ms: i64) -> String {
        self.when(unix_ms.div_euclid(1000), Some(unix_ms.rem_euclid(1000)))
    }

    /// Reads a `datetime-local` field ("YYYY-MM-DDTHH:MM") in the zone this
    /// language shows times in; unix milliseconds.
    pub fn parse_local(&self, s: &str) -> Option<i64> {
        let (date, time) = s.trim().split_once('T')?;
        let day = crate::clock::parse_ymd(date)?;
        let (h, m) = time.split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
        if !(0..24).contains(&h) || !(0..60).contains(&m) {
            return None;
        }
        let offset = if *self == Lang::Ja { 9 * 3600 } else { 0 };
        Some((day + h * 3600 + m * 60 - offset) * 1000)
    }

    fn when(&self, unix: i64, ms: Option<i64>) -> String {
        let offset = if *self == Lang::Ja { 9 * 3600 } else { 0 };
        let t = unix + offset;
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let (y, m, d) = crate::clock::civil_from_days(days);
        let (hh, mm) = (secs / 3600, secs % 3600 / 60);
        let fine = ms.map(|ms| format!(":{:02}.{ms:03}", secs % 60)).unwrap_or_default();
        match self {
            Lang::Ja => format!("{y}年{m}月{d}日 {hh:02}:{mm:02}{fine}"),
            Lang::En => format!("{y}-{m:02}-{d:02} {hh:02}:{mm:02}{fine} UTC"),
        }
    }
}

/// (key, English, Japanese)
const TEXTS: &[(&str, &str, &str)] = &[
    ("node", "Node", "ノード"),
    ("restart_rolling", "Rolling restart", "ローリング再起動"),
    (
        "rolling_explained",
        "Restarts every member in turn, this node last; each waits until all members are Synced and serving again.",
        "全メンバーを1台ずつ再起動します（このノードは最後）。各ノードは全メンバーが同期しサービス中に戻るまで待ちます。",
    ),
    (
        "rolling_started",
        "Rolling restart started; the log shows each step.",
        "ローリング再起動を開始しました。各手順はログに出ます。",
    ),
    ("leave_cluster", "Leave the cluster", "クラスタから外す"),
    (
        "leave_explained",
        "This node's copy of the cluster's database is deleted and the other members forget it; it starts again with a new, empty mail store. The mail stays with the cluster.",
        "このノードのクラスタデータベースの複製は削除され、他のメンバーはこのノードを外します。このノードは新しい空のメールストアで再起動します。メールはクラスタに残ります。",
    ),
    ("cluster_left", "This node left the cluster", "このノードはクラスタから外れました:"),
    ("cluster_size", "Nodes", "台数"),
    ("yes", "yes", "はい"),
    ("no", "no", "いいえ"),
    ("none", "none", "なし"),
    ("cluster", "Cluster", "クラスタ"),
    ("this_node", "this node", "このノード"),
    ("serving", "Serving", "サービス中"),
    ("component", "Component", "コンポーネント"),
    ("known_members", "Members known here", "このノードが知るメンバー"),
    ("service_addresses", "Service addresses (VRRP)", "サービスアドレス (VRRP)"),
    ("held_here", "held by this node", "このノードが保持"),
    ("held_elsewhere", "held by another member", "他のメンバーが保持"),
    ("delivering", "Deliveries in progress per node", "ノードごとの配送中件数"),
    ("add_node", "Adding a node", "ノードの追加"),
    ("make_token", "Make a join token", "参加トークンを作成"),
    (
        "token_once",
        "Enter this on the new node within an hour; it works once.",
        "1時間以内に新しいノードで入力してください。使えるのは1回だけです。",
    ),
    (
        "not_clustered",
        "This node is not part of a cluster: it keeps its mail on its own.",
        "このノードはクラスタに属していません。メールは単独で保存しています。",
    ),
    ("new_cluster", "Start a new cluster here", "ここで新しいクラスタを作成"),
    ("join_cluster", "Join a cluster", "クラスタに参加"),
    ("node_address", "This node's address on the cluster network", "クラスタ網でのこのノードのアドレス"),
    ("cluster_name", "Cluster name", "クラスタ名"),
    ("join_token", "Join token from a member", "メンバーが作成した参加トークン"),
    (
        "cluster_formed",
        "Done; the mail service restarts onto the cluster:",
        "完了しました。メールサービスはクラスタで再起動します:",
    ),
    ("title", "Hato", "Hato"),
    ("login", "Log in", "ログイン"),
    ("logout", "Log out", "ログアウト"),
    ("user", "User", "ユーザー"),
    ("password", "Password", "パスワード"),
    ("login_failed", "Wrong user name or password.", "ユーザー名またはパスワードが違います。"),
    (
        "locked_out",
        "Too many failed logins. Try again later.",
        "ログインの失敗が多すぎます。しばらくしてから再度お試しください。",
    ),
    ("admin", "Administration", "管理"),
    ("mail", "Mail", "メール"),
    ("dashboard", "Dashboard", "ダッシュボード"),
    ("accounts", "Accounts", "アカウント"),
    ("domains", "Domains", "ドメイン"),
    ("queue", "Queue", "キュー"),
    ("quarantine", "Quarantine", "隔離"),
    ("audit", "Audit log", "監査ログ"),
    ("address", "Address", "アドレス"),
    ("name", "Name", "名前"),
    ("quota_mb", "Quota (MiB, 0 = none)", "容量制限 (MiB、0 = なし)"),
    ("role", "Role", "権限"),
    ("enabled", "Enabled", "有効"),
    ("disabled", "Disabled", "無効"),
    ("create", "Create", "作成"),
    ("create_account", "Create an account", "アカウントを作成"),
    ("save", "Save", "保存"),
    ("delete", "Delete", "削除"),
    ("disable", "Disable", "無効にする"),
    ("enable", "Enable", "有効にする"),
    ("reset_password", "Reset password", "パスワードを再設定"),
    ("new_password", "New password", "新しいパスワード"),
    ("created_password", "Account created. Its password:", "アカウントを作成しました。パスワード:"),
    ("used", "Used", "使用量"),
    ("services", "Services", "サービス"),
    ("messages_in", "Messages in", "受信メッセージ"),
    ("messages_out", "Messages out", "送信メッセージ"),
    ("rejected", "Rejected", "拒否"),
    ("spam", "Spam", "迷惑メール"),
    ("viruses", "Viruses", "ウイルス"),
    ("connections", "Connections now", "現在の接続数"),
    ("queued", "Queued", "キュー内"),
    ("last_24h", "Messages per minute, last 24 hours", "直近24時間の毎分のメッセージ数"),
    ("folders", "Folders", "フォルダ"),
    ("compose", "Compose", "作成"),
    ("from", "From", "差出人"),
    ("to", "To", "宛先"),
    ("cc", "Cc", "Cc"),
    ("subject", "Subject", "件名"),
    ("date", "Date", "日付"),
    ("size", "Size", "サイズ"),
    ("send", "Send", "送信"),
    ("save_draft", "Save draft", "下書き保存"),
    ("attachments", "Attachments", "添付ファイル"),
    ("attach", "Attach files", "ファイルを添付"),
    ("reply", "Reply", "返信"),
    ("reply_all", "Reply all", "全員に返信"),
    ("forward", "Forward", "転送"),
    ("move_to", "Move to", "移動先"),
    ("move", "Move", "移動"),
    ("flag", "Flag", "フラグ"),
    ("unflag", "Unflag", "フラグ解除"),
    ("mark_unread", "Mark unread", "未読にする"),
    ("mark_spam", "Spam", "迷惑メール"),
    ("not_spam", "Not spam", "迷惑メールではない"),
    ("search", "Search", "検索"),
    ("no_messages", "No messages.", "メッセージはありません。"),
    ("newer", "Newer", "新しい"),
    ("older", "Older", "古い"),
    ("sent_ok", "Message sent.", "送信しました。"),
    ("draft_saved", "Draft saved.", "下書きを保存しました。"),
    ("images_blocked", "Remote images are blocked.", "外部画像はブロックされています。"),
    ("show_images", "Show images", "画像を表示"),
    ("vacation", "Vacation reply", "不在通知"),
    ("vacation_on", "Send a vacation reply", "不在通知を送信する"),
    ("filters", "Filters (Sieve)", "フィルタ (Sieve)"),
    ("settings", "Settings", "設定"),
    ("my_quarantine", "My quarantine", "自分の隔離メール"),
    ("release", "Release", "解放"),
    ("reason", "Reason", "理由"),
    ("preview", "Preview", "プレビュー"),
    ("action", "Action", "操作"),
    ("time", "Time", "時刻"),
    ("actor", "Who", "実行者"),
    ("target", "Target", "対象"),
    ("detail", "Detail", "詳細"),
    ("retry", "Retry", "再送"),
    ("hold", "Hold", "保留"),
    ("bounce", "Bounce", "差し戻し"),
    ("recipients", "Recipients", "受信者"),
    ("state", "State", "状態"),
    ("error", "Error", "エラー"),
    ("language", "日本語", "English"),
    ("lang_other", "ja", "en"),
    ("role_user", "User", "一般ユーザー"),
    ("role_domain_admin", "Domain administrator", "ドメイン管理者"),
    ("role_admin", "Administrator", "管理者"),
    ("forbidden", "You may not do that.", "この操作は許可されていません。"),
    ("not_found", "Not found.", "見つかりません。"),
    ("logs", "Logs", "ログ"),
    ("level", "Level", "レベル"),
    ("module", "Module", "モジュール"),
    ("log_text", "Address, IP, queue id, words", "アドレス、IP、キューID、語句"),
    ("trace", "Trace a message", "メッセージ追跡"),
    ("trace_hint", "Message-ID or address", "Message-ID またはアドレス"),
    ("log_levels", "Levels now (e.g. info,smtp=debug)", "現在のレベル (例: info,smtp=debug)"),
    ("archive", "Archive", "アーカイブ"),
    ("archive_text", "Words in the message", "本文の語句"),
    ("since", "Since", "開始"),
    ("until", "Until", "終了"),
    ("export", "Export", "エクスポート"),
    ("appliance", "Appliance", "アプライアンス"),
    ("aliases", "Aliases and groups", "エイリアスとグループ"),
    ("alias_to", "Delivers to", "転送先"),
    ("groups", "Groups", "グループ"),
    ("members", "Members", "メンバー"),
    ("add", "Add", "追加"),
    ("remove", "Remove", "削除"),
    ("add_domain", "Add a domain", "ドメインを追加"),
    ("rules", "Rules", "ルール"),
    ("folder_inbox", "Inbox", "受信箱"),
    ("folder_sent", "Sent", "送信済み"),
    ("folder_drafts", "Drafts", "下書き"),
    ("folder_junk", "Junk", "迷惑メール"),
    ("folder_trash", "Trash", "ゴミ箱"),
    ("folder_archive", "Archive", "アーカイブ"),
    (
        "settings_help",
        "Settings live in hato.toml: what is changed here is checked and written there, and applies when the mail service restarts. The TLS certificate is replaced at once, for every service. In a cluster, both are saved on every member.",
        "設定は hato.toml にあります。ここでの変更は検査のうえ書き込まれ、メールサービスの再起動で反映されます。TLS 証明書は全サービスに即時反映されます。クラスタではどちらも全メンバーに保存されます。",
    ),
    ("in_force", "In force now", "現在の設定"),
    ("change_settings", "Change settings", "設定を変更"),
    (
        "settings_saved",
        "Saved. The changes apply when the mail service restarts.",
        "保存しました。メールサービスの再起動で反映されます。",
    ),
    ("save_everywhere", "Save on every member", "全メンバーに保存"),
    ("lockouts", "Lockouts", "ロックアウト"),
    ("last_change", "Last change of membership", "直近のメンバー変化"),
    (
        "lockouts_explained",
        "After repeated failed logins an address is locked out, or locked out of one account; an account failing from many addresses is slowed, never locked, so nobody can lock a user out. Each ends by itself when its failures age out.",
        "ログイン失敗が続くと、そのアドレスからのログイン、またはそのアドレスから特定アカウントへのログインを止めます。多数のアドレスから失敗が続くアカウントは遅延させるだけでロックしないため、他人がユーザーを締め出すことはできません。いずれも時間が経つと自動で解除されます。",
    ),
    ("lockout_kind", "Held back", "対象"),
    ("lockout_address", "every login from the address", "このアドレスからの全ログイン"),
    ("lockout_account", "the account, from the address", "このアドレスからこのアカウントへ"),
    ("lockout_slowed", "slowed, from everywhere", "全アドレスから遅延"),
    ("failures", "Failures", "失敗回数"),
    ("lift", "Lift", "解除"),
    ("lockout_lifted", "Lockout lifted.", "ロックアウトを解除しました。"),
    (
        "vips_saved",
        "Saved on every member; keepalived on each takes the addresses within seconds.",
        "全メンバーに保存しました。各メンバーの keepalived が数秒で反映します。",
    ),
    (
        "settings_saved_cluster",
        "Saved on every member of the cluster. The changes apply when each member's mail service restarts: use the rolling restart on the Cluster page.",
        "クラスタの全メンバーに保存しました。各メンバーのメールサービスの再起動で反映されます。クラスタ画面の順次再起動をお使いください。",
    ),
    ("restart_service", "Restart the mail service now", "メールサービスを今すぐ再起動"),
    ("restarting", "The mail service is restarting.", "メールサービスを再起動しています。"),
    (
        "not_editable",
        "This server was started without a configuration file: settings cannot be changed here.",
        "このサーバーは設定ファイルなしで起動されています。ここでは設定を変更できません。",
    ),
    ("relay_host", "Relay host (host:port; empty: deliver directly)", "リレーホスト (host:port、空欄で直接配送)"),
    ("relay_user", "Relay user", "リレーのユーザー"),
    ("relay_password", "Relay password (empty: unchanged)", "リレーのパスワード (空欄で変更なし)"),
    ("relay_tls", "Require TLS to the relay", "リレーへの TLS を必須にする"),
    ("max_message_mb", "Largest message (MiB)", "最大メッセージサイズ (MiB)"),
    ("max_recipients", "Recipients per message", "1通あたりの受信者数"),
    ("max_connections", "Connections in all", "全体の接続数"),
    ("max_connections_per_ip", "Connections per address", "アドレスごとの接続数"),
    ("messages_per_ip_per_minute", "Messages per address per minute", "アドレスごとの毎分メッセージ数"),
    ("blocked_extensions", "Blocked attachment types", "ブロックする添付ファイルの種類"),
    ("extension_action", "What happens to them", "ブロック時の扱い"),
    ("spam_enabled", "Score spam", "迷惑メールを判定する"),
    ("junk_at", "Junk at score", "迷惑メールフォルダへ (スコア)"),
    ("quarantine_at", "Quarantine at score", "隔離 (スコア)"),
    ("reject_at", "Reject at score (0: never)", "拒否 (スコア、0 で拒否しない)"),
    ("dnsbl", "DNS blocklists", "DNS ブロックリスト"),
    ("uribl", "URI blocklists", "URI ブロックリスト"),
    ("certificate", "TLS certificate (PEM chain)", "TLS 証明書 (PEM チェーン)"),
    ("private_key", "Private key (PEM)", "秘密鍵 (PEM)"),
    ("replace_cert", "Replace the certificate", "証明書を置き換える"),
    ("cert_replaced", "Certificate replaced.", "証明書を置き換えました。"),
    ("days", "At most one reply per sender every N days", "同じ差出人への返信は N 日に1回まで"),
    (
        "filters_help",
        "A Sieve script run on your incoming mail (file into folders, flag, forward, reply). ManageSieve clients (port 4190) edit the same script.",
        "受信メールに適用される Sieve スクリプト (フォルダ振り分け、フラグ、転送、返信)。ManageSieve クライアント (ポート 4190) でも同じスクリプトを編集できます。",
    ),
    (
        "rules_help",
        "A Sieve script (RFC 5228) run on every message before it is queued: reject, discard, redirect, add headers. It is checked before it is saved; an empty script turns it off.",
        "キューに入る前のすべてのメッセージに適用される Sieve スクリプト (RFC 5228): 拒否・破棄・転送など。保存前に検査されます。空にすると無効になります。",
    ),
    ("check_save", "Check and save", "検査して保存"),
    ("rules_saved", "The rules are in force.", "ルールを適用しました。"),
    ("raid", "RAID arrays", "RAID アレイ"),
    ("disks", "Disks", "ディスク"),
    ("alerts", "Alerts", "アラート"),
    ("no_alerts", "No alerts.", "アラートはありません。"),
    ("restarts", "Restarts", "再起動回数"),
    ("memory", "Memory used", "使用メモリ"),
    ("filesystems", "Filesystems", "ファイルシステム"),
    (
        "not_appliance",
        "This server is not running as the appliance (no supervisor status).",
        "このサーバーはアプライアンスとして動作していません (スーパーバイザーの状態がありません)。",
    ),
    (
        "stale",
        "The supervisor has not updated this for over a minute.",
        "スーパーバイザーの状態が1分以上更新されていません。",
    ),
    ("snmp", "SNMP", "SNMP"),
    ("configured", "configured", "設定済み"),
    ("not_configured", "not configured", "未設定"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, accept.parse().unwrap());
        if let Some(c) = cookie {
            h.insert(header::COOKIE, c.parse().unwrap());
        }
        h
    }

    #[test]
    fn language_from_cookie_then_accept_language() {
        assert_eq!(Lang::of(&headers("ja,en-US;q=0.9", None)), Lang::Ja);
        assert_eq!(Lang::of(&headers("en-US,en;q=0.9,ja;q=0.8", None)), Lang::En);
        assert_eq!(Lang::of(&headers("fr, ja;q=0.5", None)), Lang::Ja);
        assert_eq!(Lang::of(&headers("de", None)), Lang::En);
        assert_eq!(Lang::of(&headers("ja", Some("hato_lang=en"))), Lang::En);
    }

    #[test]
    fn every_key_has_both_languages_and_dates_read_naturally() {
        for (k, en, ja) in TEXTS {
            assert!(!en.is_empty() && !ja.is_empty(), "{k}");
        }
        assert_eq!(Lang::Ja.t("accounts"), "アカウント");
        // 2026-11-29 00:30 UTC is 09:30 in Japan.
        assert_eq!(Lang::Ja.date(1_795_912_200), "2026年11月29日 09:30");
        assert_eq!(Lang::En.date(1_795_912_200), "2026-11-29 00:30 UTC");
        assert_eq!(Lang::En.time_ms(1_795_912_205_042), "2026-11-29 00:30:05.042 UTC");
        assert_eq!(Lang::Ja.parse_local("2026-11-29T09:30"), Some(1_795_912_200_000));
        assert_eq!(Lang::En.parse_local("2026-11-29T00:30"), Some(1_795_912_200_000));
        assert_eq!(Lang::En.parse_local("2026-11-29 25:00"), None);
    }
}
