//! The web console over real HTTPS with curl: login and lockout, CSRF,
//! roles (a user cannot reach admin endpoints or another's mail; a domain
//! admin sees only their domain), WebMail sending through submission with an
//! attachment, safe HTML, quarantine release, the audit log, metrics,
//! languages. The browser-level checks are in tests/web_browser.rs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

struct Client {
    base: String,
    jar: std::path::PathBuf,
    csrf: String,
}

impl Client {
    fn new(s: &Server, name: &str) -> Client {
        Client {
            base: format!("https://127.0.0.1:{}", s.web),
            jar: s.dir.join(format!("cookies-{name}")),
            csrf: String::new(),
        }
    }

    /// (status, body) of one request.
    fn req(&self, method: &str, path: &str, body: Option<&Value>, extra: &[&str]) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-b"]).arg(&self.jar).arg("-c").arg(&self.jar);
        if !self.csrf.is_empty() {
            c.args(["-H", &format!("x-csrf-token: {}", self.csrf)]);
        }
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "--data-binary", &b.to_string()]);
        }
        c.args(extra).arg(format!("{}{path}", self.base));
        let out = c.output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (code, text) = self.req(method, path, body, &[]);
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn login(s: &Server, user: &str, password: &str) -> Client {
        let mut c = Client::new(s, user);
        let (code, v) = c.json("POST", "/api/v1/login", Some(&json!({ "user": user, "password": password })));
        assert_eq!(code, 200, "login {user}: {v}");
        c.csrf = v["csrf"].as_str().unwrap().to_string();
        c
    }
}

fn start() -> Server {
    start_with("")
}

fn start_with(extra: &str) -> Server {
    let s = Server::start("web", &format!("[filter]\nextension_action = \"quarantine\"\n{extra}"));
    s.populate("web.test", &["alice", "bob"]);
    s.populate("other.test", &["olga"]);
    let out = ctl_in(&s.config, &["admin-password", "--password-stdin"], Some("admin-secret-1\n"));
    assert!(out.status.success(), "{out:?}");
    s
}

#[test]
fn login_lockout_csrf_and_roles() {
    let s = start();
    let anon = Client::new(&s, "anon");
    assert_eq!(anon.json("GET", "/api/v1/accounts", None).0, 401);
    let (code, v) = anon.json("POST", "/api/v1/login", Some(&json!({ "user": "admin", "password": "wrong" })));
    assert_eq!((code, v["error"].as_str().unwrap()), (401, "wrong user name or password"));

    let mut admin = Client::login(&s, "admin", "admin-secret-1");
    // Without the CSRF token a change is refused, and nothing happens.
    let token = std::mem::take(&mut admin.csrf);
    let (code, v) = admin.json("POST", "/api/v1/accounts", Some(&json!({ "address": "eve@web.test" })));
    assert_eq!(code, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("CSRF"));
    admin.csrf = "not-the-token".into();
    assert_eq!(admin.json("POST", "/api/v1/accounts", Some(&json!({ "address": "eve@web.test" }))).0, 403);
    admin.csrf = token;
    assert_eq!(admin.json("GET", "/api/v1/accounts/eve@web.test", None).0, 404);
    let (code, v) = admin.json(
        "POST",
        "/api/v1/accounts",
        Some(&json!({ "address": "eve@web.test", "display_name": "Eve", "role": "domain_admin" })),
    );
    assert_eq!(code, 201, "{v}");
    let eve_pw = v["password"].as_str().unwrap().to_string();
    assert_eq!(admin.json("POST", "/api/v1/accounts", Some(&json!({ "address": "bad address" }))).0, 400);

    // A user: no admin endpoints.
    let alice = Client::login(&s, "alice@web.test", "pw-alice");
    for path in ["/api/v1/accounts", "/api/v1/queue", "/api/v1/audit", "/api/v1/stats"] {
        assert_eq!(alice.json("GET", path, None).0, 403, "{path}");
    }
    assert_eq!(alice.json("POST", "/api/v1/accounts", Some(&json!({ "address": "x@web.test" }))).0, 403);
    assert_eq!(
        alice.json("PATCH", "/api/v1/accounts/bob@web.test", Some(&json!({ "password": "stolen-pass" }))).0,
        403
    );

    // A domain admin: their domain only, never a server admin.
    let eve = Client::login(&s, "eve@web.test", &eve_pw);
    let (code, list) = eve.json("GET", "/api/v1/accounts", None);
    assert_eq!(code, 200);
    let addrs: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap()).collect();
    assert!(addrs.contains(&"alice@web.test") && !addrs.contains(&"olga@other.test"), "{addrs:?}");
    assert_eq!(
        eve.json("GET", "/api/v1/accounts?domain=other.test", None)
            .1
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["address"] == "olga@other.test")
            .count(),
        0
    );
    assert_eq!(eve.json("GET", "/api/v1/accounts/olga@other.test", None).0, 403);
    assert_eq!(eve.json("POST", "/api/v1/accounts", Some(&json!({ "address": "new@other.test" }))).0, 403);
    assert_eq!(
        eve.json("POST", "/api/v1/accounts", Some(&json!({ "address": "boss@web.test", "role": "admin" }))).0,
        403
    );
    assert_eq!(
        eve.json("POST", "/api/v1/accounts", Some(&json!({ "address": "frank@web.test", "password": "frank-pass-1" })))
            .0,
        201
    );
    assert_eq!(eve.json("PATCH", "/api/v1/accounts/frank@web.test", Some(&json!({ "enabled": false }))).0, 200);
    assert_eq!(
        Client::new(&s, "frank")
            .json("POST", "/api/v1/login", Some(&json!({ "user": "frank@web.test", "password": "frank-pass-1" })))
            .0,
        401,
        "a disabled account cannot log in"
    );

    // The audit log: the admin sees everything, the domain admin their domain.
    let (_, log) = admin.json("GET", "/api/v1/audit", None);
    let actions: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "admin account.create eve@web.test",
        "eve@web.test account.create frank@web.test",
        "eve@web.test account.update frank@web.test",
    ] {
        assert!(actions.iter().any(|a| a == want), "missing {want}: {actions:?}");
    }
    assert!(log[0]["ip"] == "127.0.0.1");
    let (code, dlog) = eve.json("GET", "/api/v1/audit", None);
    assert_eq!(code, 200);
    assert!(dlog.as_array().unwrap().iter().all(|e| e["target"].as_str().unwrap().ends_with("web.test")), "{dlog}");

    // Lockout: five wrong passwords for an account, then even the right one waits.
    for _ in 0..5 {
        anon.json("POST", "/api/v1/login", Some(&json!({ "user": "bob@web.test", "password": "nope" })));
    }
    let (code, v) = anon.json("POST", "/api/v1/login", Some(&json!({ "user": "bob@web.test", "password": "pw-bob" })));
    assert_eq!(code, 429, "{v}");
    // The administrator sees it on the Lockouts page and in the API, and lifts it.
    let (code, page) = admin.req("GET", "/admin/lockouts", None, &[]);
    assert!(code == 200 && page.contains("bob@web.test") && page.contains("127.0.0.1"), "{page}");
    let (_, list) = admin.json("GET", "/api/v1/lockouts", None);
    assert_eq!(list[0]["kind"], "account", "{list}");
    assert_eq!(alice.json("GET", "/api/v1/lockouts", None).0, 403);
    assert_eq!(admin.json("DELETE", "/api/v1/lockouts", None).0, 400, "no lockout named");
    let (code, v) = admin.json("DELETE", "/api/v1/lockouts?ip=127.0.0.1&user=bob@web.test", None);
    assert_eq!((code, v["cleared"].as_u64()), (200, Some(5)), "{v}");
    let (code, v) = anon.json("POST", "/api/v1/login", Some(&json!({ "user": "bob@web.test", "password": "pw-bob" })));
    assert_eq!(code, 200, "lifted: {v}");

    // Removing an account ends its sessions and its mail; a domain admin cannot remove a server admin.
    assert_eq!(eve.json("DELETE", "/api/v1/accounts/frank@web.test", None).0, 204);
    assert_eq!(admin.json("GET", "/api/v1/accounts/frank@web.test", None).0, 404);
    admin.json("POST", "/api/v1/accounts", Some(&json!({ "address": "root@web.test", "role": "admin" })));
    assert_eq!(eve.json("DELETE", "/api/v1/accounts/root@web.test", None).0, 403);
    // Off the appliance the appliance page says so; users may not look.
    let (code, appl) = admin.json("GET", "/api/v1/appliance", None);
    assert!(code == 200 && appl["status"].is_null(), "{appl}");
    assert_eq!(alice.json("GET", "/api/v1/appliance", None).0, 403);
    assert!(admin.json("GET", "/api/v1/logs/level", None).1["level"].as_str().unwrap().contains("info"));

    // Logging out ends the session.
    assert_eq!(alice.json("POST", "/api/v1/logout", None).0, 204);
    assert_eq!(alice.json("GET", "/api/v1/me", None).0, 401);
}

fn wait_listing(c: &Client, folder: &str, n: usize) -> Value {
    for _ in 0..100 {
        let (code, v) = c.json("GET", &format!("/api/v1/folders/{folder}/messages"), None);
        if code == 200 && v["items"].as_array().is_some_and(|a| a.len() >= n) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{folder} never had {n} messages: {:?}", c.json("GET", &format!("/api/v1/folders/{folder}/messages"), None));
}

#[test]
fn webmail_sends_reads_and_keeps_mail_private() {
    let s = start();
    let alice = Client::login(&s, "alice@web.test", "pw-alice");
    let (code, v) = alice.json(
        "POST",
        "/api/v1/send",
        Some(&json!({
            "to": "bob@web.test", "subject": "会議の資料", "body": "資料を添付します。\nAlice",
            "attachments": [["議事録.txt", "text/plain", "5pel5pys6Kqe"]]
        })),
    );
    assert_eq!(code, 202, "{v}");
    assert_eq!(alice.json("POST", "/api/v1/send", Some(&json!({ "to": "not an address", "subject": "x" }))).0, 400);
    // It went through the submission path (logged there) and a copy is in Sent.
    assert!(
        s.wait_log("svc=\"submission\"}: hato::smtp: authenticated user=alice@web.test", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert_eq!(wait_listing(&alice, "Sent", 1)["items"][0]["subject"], "会議の資料");

    let bob = Client::login(&s, "bob@web.test", "pw-bob");
    let inbox = wait_listing(&bob, "INBOX", 1);
    let item = &inbox["items"][0];
    assert_eq!(
        (item["subject"].as_str(), item["from"].as_str(), item["seen"].as_bool()),
        (Some("会議の資料"), Some("alice@web.test"), Some(false))
    );
    let uid = item["uid"].as_i64().unwrap();
    let (_, m) = bob.json("GET", &format!("/api/v1/folders/INBOX/messages/{uid}"), None);
    assert!(m["text"].as_str().unwrap().contains("資料を添付します。"), "{m}");
    assert_eq!(m["attachments"][0]["name"], "議事録.txt");
    let (code, bytes) =
        bob.req("GET", &format!("/api/v1/folders/INBOX/messages/{uid}/attachments/0"), None, &["-D", "-"]);
    assert_eq!(code, 200);
    assert!(bytes.contains("content-disposition: attachment") && bytes.ends_with("日本語"), "{bytes}");
    assert_eq!(wait_listing(&bob, "INBOX", 1)["items"][0]["seen"], true, "reading marks it seen");

    // Alice cannot see Bob's mail: her INBOX is her own, and there is no way to name his.
    let (_, mine) = alice.json("GET", "/api/v1/folders/INBOX/messages", None);
    assert_eq!(mine["total"], 0, "{mine}");
    assert_eq!(alice.json("GET", &format!("/api/v1/folders/INBOX/messages/{uid}"), None).0, 404);
    // The administrator has no mailbox to read.
    let admin = Client::login(&s, "admin", "admin-secret-1");
    assert_eq!(admin.json("GET", "/api/v1/folders", None).0, 400);

    // Flags, move, delete (to Trash, then for good).
    assert_eq!(
        bob.json(
            "POST",
            &format!("/api/v1/folders/INBOX/messages/{uid}/flags"),
            Some(&json!({ "add": ["\\Flagged"] }))
        )
        .0,
        204
    );
    assert_eq!(
        bob.json("POST", &format!("/api/v1/folders/INBOX/messages/{uid}/flags"), Some(&json!({ "add": ["$Evil"] }))).0,
        400
    );
    assert_eq!(
        bob.json("POST", &format!("/api/v1/folders/INBOX/messages/{uid}/move"), Some(&json!({ "to": "Archive" }))).0,
        204
    );
    let archived = wait_listing(&bob, "Archive", 1);
    let auid = archived["items"][0]["uid"].as_i64().unwrap();
    assert_eq!(archived["items"][0]["flagged"], true);
    assert_eq!(bob.json("DELETE", &format!("/api/v1/folders/Archive/messages/{auid}"), None).0, 204);
    let tuid = wait_listing(&bob, "Trash", 1)["items"][0]["uid"].as_i64().unwrap();
    assert_eq!(bob.json("DELETE", &format!("/api/v1/folders/Trash/messages/{tuid}"), None).0, 204);
    assert_eq!(bob.json("GET", "/api/v1/folders/Trash/messages", None).1["total"], 0);

    // The user's own filter: checked, then in force for the next delivery.
    let (code, v) = bob.json("PUT", "/api/v1/filter", Some(&json!({ "script": "if true {\n  frobnicate;\n}" })));
    assert!(code == 400 && v["error"].as_str().unwrap().contains("line 2"), "{v}");
    let script = "require \"fileinto\";\nif header :contains \"subject\" \"[list]\" { fileinto \"Archive\"; }\n";
    assert_eq!(bob.json("PUT", "/api/v1/filter", Some(&json!({ "script": script }))).0, 204);
    let date = date_now();
    let listmail = format!(
        "From: l@example.org\r\nTo: bob@web.test\r\nSubject: [list] news\r\nDate: {date}\r\nMessage-ID: <l1@example.org>\r\n\r\nhi\r\n"
    );
    assert!(smtp_send(s.mx, "l@example.org", "bob@web.test", listmail.as_bytes()).starts_with("250"));
    assert_eq!(wait_listing(&bob, "Archive", 1)["items"][0]["subject"], "[list] news");

    // Vacation settings round-trip.
    assert_eq!(
        bob.json("PUT", "/api/v1/vacation", Some(&json!({ "subject": "留守", "body": "戻りは月曜", "days": 3 }))).0,
        204
    );
    assert_eq!(bob.json("GET", "/api/v1/vacation", None).1["subject"], "留守");
}

#[test]
fn html_is_sanitised_quarantine_released_and_metrics_served() {
    let s = start();
    let evil = "From: x@example.org\r\nTo: bob@web.test\r\nSubject: evil\r\nDate: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <e1@example.org>\r\n\
        MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
        <p onmouseover=\"alert(1)\">hi<script>alert(2)</script><a href=\"javascript:alert(3)\">x</a><img src=\"https://t.example/p.gif\"></p>\r\n";
    assert!(smtp_send(s.mx, "x@example.org", "bob@web.test", evil.as_bytes()).starts_with("250"));
    let bob = Client::login(&s, "bob@web.test", "pw-bob");
    let uid = wait_listing(&bob, "INBOX", 1)["items"][0]["uid"].as_i64().unwrap();
    let (_, m) = bob.json("GET", &format!("/api/v1/folders/INBOX/messages/{uid}"), None);
    let html = m["html"].as_str().unwrap();
    assert!(
        !html.contains("script")
            && !html.contains("onmouseover")
            && !html.contains("javascript:")
            && !html.contains("t.example"),
        "{html}"
    );
    assert_eq!(m["blocked_images"], 1);
    // The page around it forbids inline scripts and carries the other headers.
    let (_, page) = bob.req("GET", &format!("/mail/read?folder=INBOX&uid={uid}"), None, &["-D", "-"]);
    assert!(
        page.contains("content-security-policy: default-src 'self'; script-src 'self'")
            && page.contains("x-content-type-options: nosniff"),
        "{page}"
    );
    assert!(
        page.contains("sandbox=\"allow-popups allow-popups-to-escape-sandbox\"") && !page.contains("<script>alert"),
        "{page}"
    );

    // A held message: the user sees it in their quarantine, only the admin releases it.
    let held = "From: x@example.org\r\nTo: bob@web.test\r\nSubject: invoice\r\nDate: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <h1@example.org>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\n\
        Content-Type: application/octet-stream; name=\"run.bat\"\r\nContent-Disposition: attachment; filename=\"run.bat\"\r\n\r\n@echo off\r\n--b--\r\n";
    assert!(smtp_send(s.mx, "x@example.org", "bob@web.test", held.as_bytes()).starts_with("250"));
    let (_, mine) = bob.json("GET", "/api/v1/quarantine", None);
    let id = mine[0]["id"].as_str().unwrap().to_string();
    assert_eq!(bob.json("POST", &format!("/api/v1/quarantine/{id}/release"), None).0, 403);
    let alice = Client::login(&s, "alice@web.test", "pw-alice");
    assert_eq!(
        alice.json("GET", "/api/v1/quarantine", None).1.as_array().unwrap().len(),
        0,
        "alice sees none of bob's"
    );
    assert_eq!(alice.json("GET", &format!("/api/v1/quarantine/{id}"), None).0, 404);
    let admin = Client::login(&s, "admin", "admin-secret-1");
    let (_, preview) = admin.json("GET", &format!("/api/v1/quarantine/{id}"), None);
    assert_eq!(preview["attachments"][0]["name"], "run.bat");
    assert_eq!(bob.json("DELETE", &format!("/api/v1/quarantine/{id}"), None).0, 403);
    let (code, v) = admin.json("POST", &format!("/api/v1/quarantine/{id}/release"), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(admin.json("DELETE", &format!("/api/v1/quarantine/{id}"), None).0, 404, "released: no longer held");
    assert_eq!(wait_listing(&bob, "INBOX", 2)["items"].as_array().unwrap().len(), 2);
    let (_, log) = admin.json("GET", "/api/v1/audit", None);
    assert!(
        log.as_array().unwrap().iter().any(|e| e["action"] == "quarantine.release" && e["target"] == id.as_str()),
        "{log}"
    );

    // Metrics: Prometheus text with the counters.
    let (code, text) = Client::new(&s, "scraper").req("GET", "/metrics", None, &[]);
    assert_eq!(code, 200);
    assert!(
        text.contains("# TYPE hato_messages_received_total counter") && text.contains("hato_messages_received_total 2"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE hato_smtp_accept_seconds histogram") && text.contains("hato_smtp_accept_seconds_count 2"),
        "{text}"
    );
    assert!(text.contains("hato_delivery_seconds_bucket{le=\"+Inf\"}") && text.contains("hato_store_up 1"), "{text}");
    let (_, stats) = admin.json("GET", "/api/v1/stats", None);
    assert_eq!(stats["stats"]["received_messages"], 2);

    // Logs, message trace, live levels and the archive are for the administrator.
    assert_eq!(bob.json("GET", "/api/v1/logs", None).0, 403);
    assert_eq!(bob.json("GET", "/api/v1/archive?subject=invoice", None).0, 403);
    let (_, lines) = admin.json("GET", "/api/v1/trace?q=x%40example.org", None);
    let msgs: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert!(msgs.contains(&"quarantined") && msgs.iter().any(|m| m.starts_with("delivered to")), "{msgs:?}");
    let (code, v) = admin.json("PUT", "/api/v1/logs/level", Some(&json!({ "spec": "smtp=debug" })));
    assert_eq!(code, 200, "{v}");
    assert!(v["level"].as_str().unwrap().contains("hato::smtp=debug"));
    assert_eq!(admin.json("PUT", "/api/v1/logs/level", Some(&json!({ "spec": "smtp=loud" }))).0, 400);
    let (_, warn) = admin.json("GET", "/api/v1/logs?level=warn&module=filter", None);
    assert!(
        warn.as_array().unwrap().iter().all(|l| l["level"] == "WARN" || l["level"] == "ERROR")
            && !warn.as_array().unwrap().is_empty()
    );
    let (_, found) = admin.json("GET", "/api/v1/archive?subject=invoice", None);
    assert_eq!(found[0]["disposition"], "released", "the archive keeps the message and its fate: {found}");
    assert_eq!(admin.json("GET", "/api/v1/archive?since=yesterday", None).0, 400);
    let (code, mbox) = admin.req("GET", "/api/v1/archive/export?subject=invoice", None, &[]);
    assert!(code == 200 && mbox.starts_with("From ") && mbox.contains("run.bat"), "{mbox}");

    // The OpenAPI document is served and names the endpoints.
    let (_, doc) = admin.json("GET", "/api/v1/openapi.json", None);
    assert!(
        doc["paths"]["/api/v1/accounts/{address}"]["patch"].is_object()
            && doc["paths"]["/api/v1/send"]["post"].is_object()
    );
}

#[test]
fn pages_follow_the_language_and_need_a_login() {
    let s = start();
    let anon = Client::new(&s, "anon");
    let (code, head) = anon.req("GET", "/mail", None, &["-D", "-"]);
    assert_eq!(code, 303);
    assert!(head.to_lowercase().contains("location: /login?next=/mail"), "{head}");
    let (_, ja) = anon.req("GET", "/login", None, &["-H", "Accept-Language: ja,en;q=0.8"]);
    assert!(ja.contains("<html lang=\"ja\">") && ja.contains("ログイン"), "{ja}");
    let (_, en) = anon.req("GET", "/login", None, &["-H", "Accept-Language: en-US"]);
    assert!(en.contains("Log in"));
    // A login form posted without its pre-login token is refused.
    let (code, _) = anon.req("POST", "/login", None, &["--data", "user=admin&password=admin-secret-1"]);
    assert_eq!(code, 403);
    // A user is refused the admin pages with a page, not a crash.
    let bob = Client::login(&s, "bob@web.test", "pw-bob");
    let (code, page) = bob.req("GET", "/admin/quarantine", None, &["-H", "Accept-Language: ja"]);
    assert_eq!(code, 403);
    assert!(page.contains("この操作は許可されていません。"), "{page}");
}

#[test]
fn aliases_groups_and_server_rules() {
    let s = start();
    let admin = Client::login(&s, "admin", "admin-secret-1");
    assert_eq!(
        admin
            .json("POST", "/api/v1/aliases", Some(&json!({ "address": "sales@web.test", "target": "bob@web.test" })))
            .0,
        201
    );
    assert_eq!(
        admin.json("POST", "/api/v1/groups", Some(&json!({ "address": "team@web.test", "name": "Team" }))).0,
        201
    );
    for m in ["alice@web.test", "bob@web.test"] {
        assert_eq!(admin.json("POST", "/api/v1/groups/team@web.test/members", Some(&json!({ "member": m }))).0, 204);
    }
    let (_, groups) = admin.json("GET", "/api/v1/groups", None);
    assert_eq!(groups[0]["members"].as_array().unwrap().len(), 2, "{groups}");
    let date = date_now();
    let msg = format!(
        "From: x@example.org\r\nTo: team@web.test\r\nSubject: hello team\r\nDate: {date}\r\nMessage-ID: <t1@example.org>\r\n\r\nhi\r\n"
    );
    assert!(smtp_send(s.mx, "x@example.org", "team@web.test", msg.as_bytes()).starts_with("250"));
    let bob = Client::login(&s, "bob@web.test", "pw-bob");
    assert_eq!(wait_listing(&bob, "INBOX", 1)["items"][0]["subject"], "hello team");

    // A domain administrator manages their own domain's aliases only.
    admin.json(
        "POST",
        "/api/v1/accounts",
        Some(&json!({ "address": "eve@web.test", "password": "eve-secret-1", "role": "domain_admin" })),
    );
    let eve = Client::login(&s, "eve@web.test", "eve-secret-1");
    assert_eq!(
        eve.json("POST", "/api/v1/aliases", Some(&json!({ "address": "info@other.test", "target": "eve@web.test" }))).0,
        403
    );
    assert_eq!(
        eve.json("POST", "/api/v1/aliases", Some(&json!({ "address": "info@web.test", "target": "eve@web.test" }))).0,
        201
    );
    assert_eq!(eve.json("DELETE", "/api/v1/aliases/sales@web.test", None).0, 204);
    assert_eq!(bob.json("GET", "/api/v1/aliases", None).0, 403);

    // The server rules: a broken script is refused with its place, a good one is in force at once.
    let (code, v) = admin.json("PUT", "/api/v1/rules", Some(&json!({ "script": "if true {\n  frobnicate;\n}" })));
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().contains("line 2, column 3"), "{v}");
    assert_eq!(eve.json("PUT", "/api/v1/rules", Some(&json!({ "script": "keep;" }))).0, 403);
    let script = "require \"reject\";\nif header :contains \"subject\" \"forbidden-word\" { reject \"not here\"; }\n";
    assert_eq!(admin.json("PUT", "/api/v1/rules", Some(&json!({ "script": script }))).0, 204);
    assert_eq!(admin.json("GET", "/api/v1/rules", None).1["script"], script);
    let bad = format!(
        "From: x@example.org\r\nTo: bob@web.test\r\nSubject: the forbidden-word\r\nDate: {date}\r\nMessage-ID: <t2@example.org>\r\n\r\nhi\r\n"
    );
    let reply = smtp_send(s.mx, "x@example.org", "bob@web.test", bad.as_bytes());
    assert!(reply.starts_with("550") && reply.contains("not here"), "{reply}");
    assert_eq!(admin.json("DELETE", "/api/v1/groups/team@web.test/members/alice@web.test", None).0, 204);
    assert_eq!(admin.json("GET", "/api/v1/groups", None).1[0]["members"], json!(["bob@web.test"]));
    assert_eq!(admin.json("DELETE", "/api/v1/groups/team@web.test", None).0, 204);
    let (_, log) = admin.json("GET", "/api/v1/audit", None);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in [
        "alias.create",
        "group.create",
        "group.member.add",
        "group.member.remove",
        "group.delete",
        "alias.delete",
        "rules.update",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

#[test]
fn settings_show_and_the_certificate_is_replaced_for_every_service() {
    let s = start();
    let admin = Client::login(&s, "admin", "admin-secret-1");
    let (_, settings) = admin.json("GET", "/api/v1/settings", None);
    assert_eq!(settings["server"]["hostname"], "mx.hato.test", "{settings}");
    assert!(settings["filters"]["blocked_extensions"].as_str().unwrap().contains("exe"));
    let alice = Client::login(&s, "alice@web.test", "pw-alice");
    assert_eq!(alice.json("GET", "/api/v1/settings", None).0, 403);

    let make = |cn: &str| {
        let (c, k) = (s.dir.join(format!("{cn}.crt")), s.dir.join(format!("{cn}.key")));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
            ])
            .arg(&k)
            .arg("-out")
            .arg(&c)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
        (std::fs::read_to_string(c).unwrap(), std::fs::read_to_string(k).unwrap())
    };
    let (c1, _) = make("first.web.test");
    let (c2, k2) = make("mail.web.test");
    let (code, v) = admin.json("PUT", "/api/v1/tls", Some(&json!({ "cert": c1, "key": k2 })));
    assert_eq!(code, 400, "a key that does not match is refused: {v}");
    let (code, v) = admin.json("PUT", "/api/v1/tls", Some(&json!({ "cert": c2, "key": k2 })));
    assert_eq!(code, 200, "{v}");
    // IMAPS (and every other TLS service) presents the new certificate at once.
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.imaps)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CN = mail.web.test") || text.contains("CN=mail.web.test"), "{text}");
    let (_, log) = admin.json("GET", "/api/v1/audit", None);
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "tls.replace"));
}

#[test]
fn queue_and_domains_through_the_api() {
    // Mail for far.test goes to a port nobody listens on: it waits in the queue.
    let closed = free_port();
    let s = start_with(&format!("[delivery.routes]\n\"far.test\" = \"127.0.0.1:{closed}\"\n"));
    let alice = Client::login(&s, "alice@web.test", "pw-alice");
    assert_eq!(
        alice
            .json("POST", "/api/v1/send", Some(&json!({ "to": "someone@far.test", "subject": "stuck", "body": "x" })))
            .0,
        202
    );
    let admin = Client::login(&s, "admin", "admin-secret-1");
    let mut queued = Value::Null;
    for _ in 0..50 {
        queued = admin.json("GET", "/api/v1/queue", None).1;
        if queued
            .as_array()
            .is_some_and(|q| !q.is_empty() && !q[0]["entries"][0]["last_error"].as_str().unwrap_or("").is_empty())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = queued[0]["id"].as_str().unwrap().to_string();
    assert_eq!(queued[0]["subject"], "stuck");
    let (_, one) = admin.json("GET", &format!("/api/v1/queue/{id}"), None);
    assert_eq!(one["message"]["subject"], "stuck");
    assert_eq!(alice.json("GET", &format!("/api/v1/queue/{id}"), None).0, 403);
    assert_eq!(alice.json("POST", &format!("/api/v1/queue/{id}/hold"), None).0, 403);
    assert_eq!(admin.json("POST", &format!("/api/v1/queue/{id}/hold"), None).1["recipients"], 1);
    assert_eq!(admin.json("GET", "/api/v1/queue?state=held", None).1.as_array().unwrap().len(), 1);
    assert_eq!(admin.json("POST", &format!("/api/v1/queue/{id}/release"), None).0, 200);
    assert_eq!(admin.json("POST", &format!("/api/v1/queue/{id}/frobnicate"), None).0, 400);
    // Bounce: the queue lets it go and the sender hears why.
    assert_eq!(admin.json("POST", &format!("/api/v1/queue/{id}/bounce"), None).0, 200);
    let inbox = wait_listing(&alice, "INBOX", 1);
    assert!(inbox["items"][0]["subject"].as_str().unwrap().contains("Undelivered"), "{inbox}");
    assert!(admin.json("GET", "/api/v1/queue", None).1.as_array().unwrap().iter().all(|m| m["id"] != id.as_str()));

    // Domains: the administrator adds them; a domain administrator sees only theirs.
    assert_eq!(admin.json("POST", "/api/v1/domains", Some(&json!({ "name": "new.test" }))).0, 201);
    admin.json(
        "POST",
        "/api/v1/accounts",
        Some(&json!({ "address": "eve@web.test", "password": "eve-secret-1", "role": "domain_admin" })),
    );
    let eve = Client::login(&s, "eve@web.test", "eve-secret-1");
    assert_eq!(eve.json("POST", "/api/v1/domains", Some(&json!({ "name": "mine.test" }))).0, 403);
    let names: Vec<String> = eve
        .json("GET", "/api/v1/domains", None)
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["web.test"]);
    let (_, log) = admin.json("GET", "/api/v1/audit", None);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["queue.hold", "queue.release", "queue.bounce", "domain.create"] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
}

#[test]
fn settings_are_written_to_the_file_and_apply_after_a_restart() {
    let mut s = start();
    let admin = Client::login(&s, "admin", "admin-secret-1");
    let (code, v) = admin.json(
        "PATCH",
        "/api/v1/settings",
        Some(&json!({ "max_recipients": 2, "dnsbl": "bl.example, , zen.example", "extension_action": "reject" })),
    );
    assert_eq!(code, 200, "{v}");
    let file = std::fs::read_to_string(&s.config).unwrap();
    assert!(
        file.contains("max_recipients = 2") && file.contains("dnsbl = [\"bl.example\", \"zen.example\"]"),
        "{file}"
    );
    assert!(
        std::fs::read_to_string(s.config.with_extension("toml.bak")).unwrap().contains("[smtp]"),
        "the old file is kept"
    );
    // Refused changes leave the file alone.
    assert_eq!(admin.json("PATCH", "/api/v1/settings", Some(&json!({ "extension_action": "explode" }))).0, 400);
    assert_eq!(std::fs::read_to_string(&s.config).unwrap(), file);
    assert_eq!(
        Client::login(&s, "alice@web.test", "pw-alice")
            .json("PATCH", "/api/v1/settings", Some(&json!({ "max_recipients": 1 })))
            .0,
        403
    );
    // Not supervised here: the console says so instead of stopping the server.
    assert_eq!(admin.json("POST", "/api/v1/restart", None).0, 400);
    // In force after a restart: a third recipient is refused.
    s.kill9();
    s.spawn();
    let mut smtp = Raw::connect(s.mx);
    smtp.reply();
    smtp.cmd("EHLO client.example");
    smtp.cmd("MAIL FROM:<x@example.org>");
    assert!(smtp.cmd("RCPT TO:<alice@web.test>").starts_with("250"));
    assert!(smtp.cmd("RCPT TO:<bob@web.test>").starts_with("250"));
    let third = smtp.cmd("RCPT TO:<olga@other.test>");
    assert!(third.starts_with("452") || third.starts_with("5"), "{third}");
}

/// The Cluster page of a node on its own: it says so and offers to start or
/// join a cluster; a bad address or service address is refused with the
/// reason, and nothing changes; users other than admins are refused.
#[test]
fn the_cluster_page_offers_to_form_a_cluster_and_refuses_bad_input() {
    let s = start();
    let admin = Client::login(&s, "admin", "admin-secret-1");
    let (code, page) = admin.req("GET", "/admin/cluster", None, &["-H", "Accept-Language: en"]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("not part of a cluster") && page.contains("name=\"vips\""), "{page}");
    assert!(page.contains("value=\"join\"") && page.contains("name=\"token\""), "{page}");
    let (code, v) = admin.json("GET", "/api/v1/cluster", None);
    assert_eq!(code, 200);
    assert!(v["node"].is_null() && v["vips_here"] == json!([]) && v["warnings"] == json!([]), "{v}");
    let post = |form: &str| admin.req("POST", &format!("/admin/cluster?_csrf={}", admin.csrf), None, &["--data", form]);
    let (code, page) = post("action=init&address=mail.example.com");
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("is not an IP address of this node"), "{page}");
    let (code, page) = post("action=init&address=10.0.0.1&vips=10.0.0.100%2F40");
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("prefix length must be 0-32"), "{page}");
    let (code, page) = post("action=join&address=10.0.0.2&token=HATO9%2Fx");
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("join token not usable"), "{page}");
    assert!(!s.dir.join("data/cluster").exists(), "a refused form changes nothing");
    let bob = Client::login(&s, "bob@web.test", "pw-bob");
    assert_eq!(bob.req("GET", "/admin/cluster", None, &[]).0, 403);
}
