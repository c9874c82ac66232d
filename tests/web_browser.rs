//! The web console in a real browser: headless Chromium driven by Selenium
//! (tests/py/web_e2e.py). Admin creates an account; the new user sends mail
//! with an attachment; the other reads it and replies; a hostile HTML
//! message renders inert; the admin releases a held message and finds it in
//! the audit log; the main screens are photographed in English and Japanese
//! (under target/tmp/web-screenshots) and on a phone-sized screen.

mod common;

use common::*;

#[test]
fn admin_and_webmail_in_chromium() {
    let s = Server::start("web-browser", "[filter]\nextension_action = \"quarantine\"\n");
    s.populate("web.test", &["bob"]);
    let out = ctl_in(&s.config, &["admin-password", "--password-stdin"], Some("admin-secret-1\n"));
    assert!(out.status.success(), "{out:?}");
    let evil = "From: prize@example.org\r\nTo: bob@web.test\r\nSubject: You have won\r\nDate: Sun, 29 Nov 2026 00:00:00 +0000\r\n\
        Message-ID: <x1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
        <html><head><style>body{display:none}</style><script>parent.document.title='pwned'</script></head><body>\
        <p>Congratulations</p><img src=x onerror=\"parent.document.title='pwned';parent.pwned=1\">\
        <a href=\"javascript:parent.document.title='pwned'\">claim</a><div style=\"position:fixed;top:0;left:0;width:100%\">cover</div>\
        <svg onload=\"parent.pwned=1\"></svg><iframe src=\"javascript:parent.pwned=1\"></iframe>\
        <form action=\"https://evil.example/\"><input name=password></form><img src=\"https://tracker.example/p.gif\">\
        <a href=\"https://example.org/\" onclick=\"parent.pwned=1\">link</a></body></html>\r\n";
    assert!(smtp_send(s.mx, "prize@example.org", "bob@web.test", evil.as_bytes()).starts_with("250"));
    let held = "From: x@example.org\r\nTo: bob@web.test\r\nSubject: invoice\r\nDate: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <h1@example.org>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\n\
        Content-Type: application/octet-stream; name=\"run.bat\"\r\nContent-Disposition: attachment; filename=\"run.bat\"\r\n\r\n@echo off\r\n--b--\r\n";
    assert!(smtp_send(s.mx, "x@example.org", "bob@web.test", held.as_bytes()).starts_with("250"));
    let file = s.dir.join("report-2026.txt");
    std::fs::write(&file, "figures\n").unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let out = std::process::Command::new(PYTHON)
        .arg(py_script("web_e2e.py"))
        .arg(format!("https://127.0.0.1:{}", s.web))
        .arg(&shots)
        .arg(&file)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("all steps passed"), "{text}\n--- server log ---\n{}", s.log());
    for name in [
        "en-dashboard",
        "en-accounts",
        "en-mail",
        "en-compose",
        "en-read",
        "en-xss",
        "en-quarantine",
        "en-audit",
        "en-archive",
        "en-trace",
        "ja-archive",
        "ja-trace",
        "ja-audit",
        "ja-dashboard",
        "ja-accounts",
        "ja-quarantine",
        "ja-mail",
        "ja-read",
        "ja-compose",
        "phone-mail",
        "ja-mail-settings",
        "en-domains",
        "en-aliases",
        "en-queue",
        "en-logs",
        "en-rules",
        "en-settings",
        "en-appliance",
        "ja-domains",
        "ja-aliases",
        "ja-queue",
        "ja-logs",
        "ja-rules",
        "ja-settings",
        "ja-appliance",
    ] {
        let p = shots.join(format!("{name}.png"));
        assert!(std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000), "no screenshot {}", p.display());
    }
}
