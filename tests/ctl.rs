//! `hato ctl` as scripts use it: JSON output and stable exit codes.

mod common;

use common::*;

fn config_only(tag: &str) -> (TempDir, std::path::PathBuf) {
    let dir = temp_dir(tag);
    let cfg = dir.join("hato.toml");
    std::fs::write(&cfg, "data_dir = \"data\"\n").unwrap();
    (dir, cfg)
}

fn ctl(cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = ctl_in(cfg, args, None);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn directory_lifecycle_with_exit_codes() {
    let (_dir, cfg) = config_only("ctl-dir");
    assert_eq!(ctl(&cfg, &["domain", "add", "Example.TEST"]).0, 0);
    let (code, _, err) = ctl(&cfg, &["domain", "add", "example.test"]);
    assert_eq!(code, 4, "exists → 4: {err}");
    assert!(err.contains("domain example.test already exists"));
    let (code, _, err) = ctl(&cfg, &["domain", "add", "bad_domain!"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = ctl(&cfg, &["account", "add", "x@nowhere.test", "--password", "p"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("add it first with `hato ctl domain add`"), "{err}");

    // A generated password is printed once, and is the one that works.
    let (code, out, _) =
        ctl(&cfg, &["--json", "account", "add", "alice@example.test", "--name", "山田 花子", "--quota-mb", "5"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["password"].as_str().unwrap().len(), 16);
    let o = ctl_in(&cfg, &["account", "passwd", "alice@example.test", "--password-stdin"], Some("new secret\n"));
    assert!(o.status.success());
    let o = ctl_in(&cfg, &["account", "passwd", "alice@example.test", "--password-stdin"], Some("\n"));
    assert_eq!(o.status.code(), Some(2));

    let (_, out, _) = ctl(&cfg, &["--json", "account", "show", "alice@example.test"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["display_name"], "山田 花子");
    assert_eq!(v["quota_bytes"], 5 * 1024 * 1024);
    assert!(v.get("password_hash").is_none(), "hashes never leave the store");
    assert_eq!(ctl(&cfg, &["account", "quota", "alice@example.test", "-1"]).0, 2);
    assert_eq!(ctl(&cfg, &["account", "disable", "alice@example.test"]).0, 0);
    let (_, out, _) = ctl(&cfg, &["account", "list"]);
    assert!(out.contains("alice@example.test  山田 花子") && out.contains("[disabled]"), "{out}");

    assert_eq!(ctl(&cfg, &["alias", "add", "info@example.test", "alice@example.test"]).0, 0);
    assert_eq!(ctl(&cfg, &["alias", "add", "info@example.test", "alice@example.test"]).0, 4);
    assert_eq!(ctl(&cfg, &["group", "add", "all@example.test", "--name", "Everyone"]).0, 0);
    assert_eq!(ctl(&cfg, &["group", "add-member", "all@example.test", "alice@example.test"]).0, 0);
    assert_eq!(ctl(&cfg, &["group", "add-member", "all@example.test", "partner@other.test"]).0, 0);
    let (_, out, _) = ctl(&cfg, &["--json", "group", "list"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["members"], serde_json::json!(["alice@example.test", "partner@other.test"]));
    assert_eq!(ctl(&cfg, &["group", "remove-member", "all@example.test", "nobody@example.test"]).0, 3);

    let (code, _, err) = ctl(&cfg, &["domain", "remove", "example.test"]);
    assert_eq!(code, 2, "a domain in use is not removed: {err}");
    let (_, out, _) = ctl(&cfg, &["--json", "mailbox", "list", "alice@example.test"]);
    let boxes: Vec<String> = serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(boxes, ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]);
    for args in [
        &["group", "remove", "all@example.test"][..],
        &["alias", "remove", "info@example.test"],
        &["account", "remove", "alice@example.test"],
        &["domain", "remove", "example.test"],
    ] {
        assert_eq!(ctl(&cfg, args).0, 0, "{args:?}");
    }
    let (_, out, _) = ctl(&cfg, &["--json", "domain", "list"]);
    assert_eq!(out.trim(), "[]");
}

#[test]
fn errors_name_the_problem() {
    let (dir, cfg) = config_only("ctl-err");
    let (code, _, err) = ctl(&cfg, &["log", "level", "smtp=debug"]);
    assert_eq!(code, 5, "no running server → 5");
    assert!(err.contains("is `hato serve` running"), "{err}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "hostnme = \"typo\"\n").unwrap();
    let (code, _, err) = ctl(&bad, &["domain", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `hostnme`"), "{err}");
    let o = std::process::Command::new(BIN).args(["ctl", "frobnicate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `hato ctl … | head -1`: the reader leaves before the output is written.
#[test]
fn a_reader_that_leaves_early_ends_the_command_quietly() {
    let (_dir, cfg) = config_only("ctl-pipe");
    assert_eq!(ctl(&cfg, &["domain", "add", "example.test"]).0, 0);
    let mut child = std::process::Command::new(BIN)
        .args(["ctl", "--config", cfg.to_str().unwrap(), "domain", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cluster_status_says_a_single_node_is_no_cluster() {
    let (_dir, cfg) = config_only("ctl-cluster");
    let (code, out, err) = ctl(&cfg, &["cluster", "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("not a cluster: the sqlite store has one node; this node is serving"), "{out}");
    assert!(out.contains("delivering now: nothing"), "{out}");
    let (code, out, err) = ctl(&cfg, &["--json", "cluster", "status"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["store"]["backend"].as_str(), v["store"]["serving"].as_bool()), (Some("sqlite"), Some(true)));
    assert_eq!(v["delivering"], serde_json::json!([]));
}
