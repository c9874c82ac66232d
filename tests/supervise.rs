//! `hato supervise` with real processes: order, readiness, restarts, give-up, logs, stop.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn pid_of(log: &str, service: &str, nth: usize) -> Option<i32> {
    log.lines()
        .filter(|l| l.contains(&format!("service={service}")) && l.contains(" started "))
        .nth(nth)
        .and_then(|l| l.split("pid=").nth(1))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn supervises_restarts_gives_up_and_stops_in_order() {
    let dir = temp_dir("supervise");
    let port = free_port();
    let cfg = dir.join("supervisor.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"log_dir = "{logs}"
stop_timeout_secs = 5
[[service]]
name = "web"
command = ["{py}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
ready = {{ tcp = "127.0.0.1:{port}" }}
restart = {{ initial_backoff_ms = 100, max_backoff_ms = 1000, min_uptime_secs = 1, give_up_after = 5, ready_timeout_secs = 20 }}

[[service]]
name = "worker"
after = ["web"]
command = ["/bin/sh", "-c", "echo worker says hello; exec sleep 300"]

[[service]]
name = "crasher"
command = ["/bin/sh", "-c", "echo crashing; exit 3"]
restart = {{ initial_backoff_ms = 50, max_backoff_ms = 200, min_uptime_secs = 5, give_up_after = 3, ready_timeout_secs = 5 }}
"#,
            logs = dir.join("logs").display(),
            py = PYTHON,
        ),
    )
    .unwrap();
    let mut sup = KillOnDrop(
        Command::new(BIN)
            .args(["supervise", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = sup.0.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let l2 = log.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            l2.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let text = || log.lock().unwrap().clone();
    let wait_for = |pred: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if pred(&text()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    let line_of = |t: &str, what: &str, service: &str| {
        t.lines().position(|l| l.contains(what) && l.contains(&format!("service={service}")))
    };

    // web must be ready (its port open) before worker starts.
    assert!(wait_for(&|t| line_of(t, " started ", "worker").is_some()), "{}", text());
    let t = text();
    assert!(line_of(&t, " ready ", "web").unwrap() < line_of(&t, " started ", "worker").unwrap(), "{t}");

    // The crasher is restarted with backoff, then given up on with an alert.
    assert!(wait_for(&|t| t.contains("ALERT service crasher failed 3 times in a row")), "{}", text());
    let starts =
        |t: &str, s: &str| t.lines().filter(|l| l.contains(" started ") && l.contains(&format!("service={s}"))).count();
    assert_eq!(starts(&text(), "crasher"), 3);

    // Killing a service gets it restarted.
    let web1 = pid_of(&text(), "web", 0).unwrap();
    nix_kill(web1);
    assert!(wait_for(&|t| pid_of(t, "web", 1).is_some()), "{}", text());
    let web2 = pid_of(&text(), "web", 1).unwrap();
    assert_ne!(web1, web2);
    assert!(
        wait_for(&|t| t.lines().filter(|l| l.contains(" ready ") && l.contains("service=web")).count() == 2),
        "{}",
        text()
    );
    assert_eq!(starts(&text(), "worker"), 1, "worker is not restarted when web is");

    // Output is captured into per-service logs.
    let worker_log = std::fs::read_to_string(dir.join("logs/worker.log")).unwrap();
    assert_eq!(worker_log, "worker says hello\n");
    let crasher_log = std::fs::read_to_string(dir.join("logs/crasher.log")).unwrap();
    assert_eq!(crasher_log.matches("crashing").count(), 3);

    // SIGTERM: stop in reverse order, every process gone.
    let worker = pid_of(&text(), "worker", 0).unwrap();
    Command::new("kill").args(["-TERM", &sup.0.id().to_string()]).status().unwrap();
    let status = sup.0.wait().unwrap();
    assert!(status.success(), "{}", text());
    let t = text();
    let (w, s) = (line_of(&t, "stopped", "worker"), line_of(&t, "stopped", "web"));
    assert!(w.is_some() && s.is_some() && w < s, "reverse order: {t}");
    assert!(!alive(worker) && !alive(web2));
}

fn nix_kill(pid: i32) {
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
}
