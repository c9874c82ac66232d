//! The supervisor: starts services in dependency order, waits for each to be
//! ready, restarts them with backoff, gives up (and raises an alert) after
//! repeated fast failures, owns their output (rotated logs), and stops them
//! in reverse order. `hato init` runs it as PID 1 on the appliance;
//! `hato supervise --config FILE` runs it anywhere else (tests, development).
//!
//! - `spec`: the configuration (services, readiness, restart policy).
//! - `state`: the per-service state machine (pure, unit-tested).
//! - `reaper`: the only caller of waitpid.
//! - `hardware`, `raid`, `seed`, `bootloader`, `chrony`, `init`: the
//!   appliance's PID 1 — drivers and the watchdog, the data RAID, the seed
//!   disk, the kernel command line, the clock, and the boot itself.

mod bootloader;
pub mod chrony;
pub mod console;
mod hardware;
pub mod init;
mod inspect;
mod lease;
mod raid;
mod reaper;
mod seed;
pub mod snmpd;
pub mod spec;
pub mod state;
pub mod status;
pub mod unbound;

use std::future::Future;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};
use serde::Serialize;
use thiserror::Error;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::{error, info, warn};

use crate::logs::rotate::RotatingFile;
use spec::{Ready, ServiceSpec, SupervisorConfig};
use state::{Decision, Phase, Tracker};

#[derive(Debug, Error)]
pub enum SupervisorError {
    #[error("cannot read supervisor config {path}: {message}")]
    Config { path: String, message: String },
    #[error("supervisor config is invalid: {0}")]
    Invalid(String),
}

/// What happened, as the supervisor loop sees it.
pub enum Event {
    Exited {
        pid: i32,
        how: String,
    },
    Ready {
        service: usize,
        generation: u64,
    },
    NotReady {
        service: usize,
        generation: u64,
    },
    Restart {
        service: usize,
    },
    /// An administrator asks to restart a service by name (retrying one that was given up on).
    AdminRestart {
        name: String,
    },
    /// An administrator sends a service a signal.
    AdminSignal {
        name: String,
        signal: Signal,
    },
    Stop,
}

/// Lets the console (and later the API) act on running services.
#[derive(Clone)]
pub struct Handle(UnboundedSender<Event>);

impl Handle {
    pub fn restart(&self, name: &str) {
        let _ = self.0.send(Event::AdminRestart { name: name.into() });
    }
    pub fn signal(&self, name: &str, signal: Signal) {
        let _ = self.0.send(Event::AdminSignal { name: name.into(), signal });
    }
}

/// A service's state as the console and the API show it.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: &'static str,
    pub pid: Option<i32>,
    pub restarts: u64,
    /// When it entered its current state.
    #[serde(skip)]
    pub since: Option<Instant>,
}

pub type StatusBoard = Arc<Mutex<Vec<ServiceStatus>>>;

struct Svc {
    spec: ServiceSpec,
    tracker: Tracker,
    pid: Option<i32>,
    /// Bumped at every start so a late readiness report for an old run is ignored.
    generation: u64,
    log: Arc<Mutex<Option<RotatingFile>>>,
}

pub fn load(path: &std::path::Path) -> Result<SupervisorConfig, SupervisorError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SupervisorError::Config { path: path.display().to_string(), message: e.to_string() })?;
    let cfg: SupervisorConfig = toml::from_str(&text)
        .map_err(|e| SupervisorError::Config { path: path.display().to_string(), message: e.to_string() })?;
    cfg.validate().map_err(SupervisorError::Invalid)?;
    Ok(cfg)
}

pub struct Supervisor {
    cfg: SupervisorConfig,
    svcs: Vec<Svc>,
    tx: UnboundedSender<Event>,
    rx: UnboundedReceiver<Event>,
    pub board: StatusBoard,
    /// The health monitor's latest report, for the SNMP subagent (set by `hato init`).
    pub health: Option<tokio::sync::watch::Receiver<Option<crate::health::Report>>>,
    /// Subscribed at creation, so no alert raised after it is missed by the subagent.
    alerts: Option<tokio::sync::broadcast::Receiver<crate::alert::Alert>>,
}

impl Supervisor {
    pub fn new(cfg: SupervisorConfig) -> Supervisor {
        let (tx, rx) = unbounded_channel();
        let svcs = cfg
            .services
            .iter()
            .map(|s| {
                let path = cfg.log_dir.join(format!("{}.log", s.name));
                let log = match RotatingFile::open(&path, cfg.rotate.clone()) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        error!(target: "hato::supervisor", service = %s.name, "cannot open log {}: {e}; output is dropped", path.display());
                        None
                    }
                };
                Svc { spec: s.clone(), tracker: Tracker::new(s.restart.clone()), pid: None, generation: 0, log: Arc::new(Mutex::new(log)) }
            })
            .collect();
        let alerts = cfg.snmp.as_ref().map(|_| crate::alert::subscribe());
        Supervisor { cfg, svcs, tx, rx, board: Arc::new(Mutex::new(Vec::new())), health: None, alerts }
    }

    pub fn handle(&self) -> Handle {
        Handle(self.tx.clone())
    }

    /// Runs until `stop` completes, then stops every service in reverse order.
    pub async fn run(mut self, stop: impl Future<Output = ()> + Send + 'static) {
        reaper::spawn(self.tx.clone());
        if let (Some(snmp), Some(alerts)) = (&self.cfg.snmp, self.alerts.take()) {
            let source = crate::snmp::source::Source {
                board: self.board.clone(),
                health: self.health.clone(),
                control: snmp.control_socket.clone(),
            };
            tokio::spawn(crate::snmp::subagent::run(snmp.agentx_socket.clone(), Arc::new(source), alerts));
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            stop.await;
            let _ = tx.send(Event::Stop);
        });
        loop {
            self.start_eligible();
            self.publish();
            let Some(event) = self.rx.recv().await else { break };
            match event {
                Event::Stop => break,
                Event::Exited { pid, how } => self.on_exit(pid, &how),
                Event::Ready { service, generation } => {
                    let s = &mut self.svcs[service];
                    if s.generation == generation && s.pid.is_some() {
                        s.tracker.ready();
                        info!(target: "hato::supervisor", service = %s.spec.name, pid = s.pid, "ready");
                    }
                }
                Event::NotReady { service, generation } => {
                    let s = &self.svcs[service];
                    if let (true, Some(pid)) = (s.generation == generation, s.pid) {
                        warn!(target: "hato::supervisor", service = %s.spec.name, "not ready in time; killing it");
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
                Event::Restart { service } => {
                    if self.svcs[service].tracker.phase == Phase::Backoff {
                        self.svcs[service].tracker.phase = Phase::Waiting;
                    }
                }
                Event::AdminRestart { name } => self.admin_restart(&name),
                Event::AdminSignal { name, signal } => match self.svcs.iter().find(|s| s.spec.name == name) {
                    Some(Svc { pid: Some(pid), .. }) => {
                        info!(target: "hato::supervisor", service = %name, pid, "sending {signal} at an administrator's request");
                        let _ = kill(Pid::from_raw(*pid), signal);
                    }
                    Some(_) => warn!(target: "hato::supervisor", service = %name, "not running; no signal sent"),
                    None => warn!(target: "hato::supervisor", service = %name, "no such service"),
                },
            }
        }
        self.shutdown().await;
    }

    fn admin_restart(&mut self, name: &str) {
        let Some(i) = self.svcs.iter().position(|s| s.spec.name == name) else {
            warn!(target: "hato::supervisor", service = %name, "no such service");
            return;
        };
        let s = &mut self.svcs[i];
        match (s.pid, &s.tracker.phase) {
            (Some(pid), _) => {
                info!(target: "hato::supervisor", service = %name, pid, "restart requested; stopping it");
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            (None, Phase::Failed) => {
                info!(target: "hato::supervisor", service = %name, "retrying a service that was given up on");
                s.tracker.reset();
                crate::alert::clear(&format!("service.{name}.failed"));
            }
            (None, _) => {
                info!(target: "hato::supervisor", service = %name, "not running; it starts when its turn comes")
            }
        }
    }

    fn publish(&self) {
        let mut board = self.board.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let list = self
            .svcs
            .iter()
            .map(|s| {
                let state = s.tracker.phase.name();
                let before = board.iter().find(|b| b.name == s.spec.name);
                let since = match before {
                    Some(b) if b.state == state => b.since,
                    _ => Some(now),
                };
                ServiceStatus { name: s.spec.name.clone(), state, pid: s.pid, restarts: s.tracker.restarts, since }
            })
            .collect();
        *board = list;
    }

    fn deps_running(&self, spec: &ServiceSpec) -> bool {
        spec.after.iter().all(|d| self.svcs.iter().any(|s| &s.spec.name == d && s.tracker.phase == Phase::Running))
    }

    fn start_eligible(&mut self) {
        for i in 0..self.svcs.len() {
            if self.svcs[i].tracker.phase == Phase::Waiting && self.deps_running(&self.svcs[i].spec) {
                self.start(i);
            }
        }
    }

    fn start(&mut self, i: usize) {
        let now = Instant::now();
        let s = &mut self.svcs[i];
        s.generation += 1;
        s.tracker.started(now);
        match spawn(&s.spec, s.log.clone()) {
            Ok(pid) => {
                info!(target: "hato::supervisor", service = %s.spec.name, pid, "started");
                s.pid = Some(pid);
                let (tx, ready, timeout, generation) = (
                    self.tx.clone(),
                    s.spec.ready.clone(),
                    Duration::from_secs(s.spec.restart.ready_timeout_secs),
                    s.generation,
                );
                tokio::spawn(async move {
                    let ok = wait_ready(&ready, timeout).await;
                    let _ = tx.send(if ok {
                        Event::Ready { service: i, generation }
                    } else {
                        Event::NotReady { service: i, generation }
                    });
                });
            }
            Err(e) => {
                error!(target: "hato::supervisor", service = %s.spec.name, "cannot start: {e}");
                self.decide(i, now);
            }
        }
    }

    fn on_exit(&mut self, pid: i32, how: &str) {
        let Some(i) = self.svcs.iter().position(|s| s.pid == Some(pid)) else {
            // An orphan reparented to us (PID 1) or a grandchild: reaped, nothing to do.
            return;
        };
        self.svcs[i].pid = None;
        warn!(target: "hato::supervisor", service = %self.svcs[i].spec.name, pid, "exited: {how}");
        self.decide(i, Instant::now());
    }

    fn decide(&mut self, i: usize, now: Instant) {
        let s = &mut self.svcs[i];
        match s.tracker.exited(now) {
            Decision::RestartAfter(d) => {
                info!(target: "hato::supervisor", service = %s.spec.name, "restarting in {d:?}");
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = tx.send(Event::Restart { service: i });
                });
            }
            Decision::GiveUp if s.tracker.phase == Phase::Failed => {
                let text = format!(
                    "service {} failed {} times in a row; not restarting it until an administrator intervenes",
                    s.spec.name, s.tracker.fast_failures
                );
                crate::alert::raise(
                    &format!("service.{}.failed", s.spec.name),
                    crate::alert::Severity::Critical,
                    &text,
                );
            }
            Decision::GiveUp => {}
        }
    }

    async fn shutdown(&mut self) {
        info!(target: "hato::supervisor", "stopping services");
        let timeout = Duration::from_secs(self.cfg.stop_timeout_secs);
        for i in (0..self.svcs.len()).rev() {
            self.svcs[i].tracker.stopping();
            let Some(pid) = self.svcs[i].pid else { continue };
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + timeout;
            let mut gone = false;
            while !gone {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, self.rx.recv()).await {
                    Ok(Some(Event::Exited { pid: p, how })) => {
                        if p == pid {
                            info!(target: "hato::supervisor", service = %self.svcs[i].spec.name, "stopped: {how}");
                            gone = true;
                        } else if let Some(j) = self.svcs.iter().position(|s| s.pid == Some(p)) {
                            self.svcs[j].pid = None;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        warn!(target: "hato::supervisor", service = %self.svcs[i].spec.name, "did not stop in {timeout:?}; killing it");
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        // Give the reaper a moment to collect it.
                        let _ = tokio::time::timeout(Duration::from_secs(2), self.rx.recv()).await;
                        gone = true;
                    }
                }
            }
            self.svcs[i].pid = None;
            self.svcs[i].tracker.exited(Instant::now());
        }
        self.publish();
    }
}

/// Starts a service with its output piped into its log. The child is never
/// waited for here: the reaper reports its exit.
fn spawn(spec: &ServiceSpec, log: Arc<Mutex<Option<RotatingFile>>>) -> std::io::Result<i32> {
    let mut cmd = Command::new(&spec.command[0]);
    cmd.args(&spec.command[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(name) = &spec.user {
        let user = User::from_name(name)
            .map_err(std::io::Error::other)?
            .ok_or_else(|| std::io::Error::other(format!("user {name} does not exist")))?;
        // std drops supplementary groups when it changes uid as root.
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    // A new process group, so a service's own children can be signalled with it.
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let log = log.clone();
        std::thread::spawn(move || copy_lines(stream, log));
    }
    // Dropping `child` neither kills nor waits for it.
    drop(child);
    Ok(pid)
}

/// Copies a service's output into its log, one line at a time (long lines are cut at 64 KiB).
fn copy_lines(stream: Box<dyn std::io::Read + Send>, log: Arc<Mutex<Option<RotatingFile>>>) {
    let mut r = std::io::BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut r).take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if let Some(f) = log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    let _ = f.write_line(&line);
                }
            }
        }
    }
}

use std::io::Read;

async fn wait_ready(ready: &Ready, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let ok = match ready {
            Ready::Started => true,
            Ready::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
            Ready::Unix(path) => tokio::net::UnixStream::connect(path).await.is_ok(),
        };
        if ok {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
