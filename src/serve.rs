//! `hato serve`: wires the store, the queue runner, the control socket and the
//! listeners together, then runs until told to stop.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::config::Config;
use crate::guard::Guard;
use crate::smtp::{self, Service};
use crate::store::{Account, Store, StoreError};

#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Logs(#[from] crate::logs::LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr} for {service}: {source} (is another server using the port?)")]
    Bind { addr: String, service: &'static str, source: std::io::Error },
    #[error("cannot create the control socket {path}: {source}")]
    Control { path: String, source: std::io::Error },
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("{0}")]
    Startup(String),
}

/// Every connection is an open file: the soft limit (often 1024) would
/// cap connections long before `[limits] max_connections` (10,000 IDLE
/// sessions are ordinary for a few thousand users), so it is raised to the
/// hard limit, and a hard limit too low for the configured connections is
/// said in the log.
fn raise_open_files(cfg: &Config) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        warn!(target: "hato::serve", soft, hard, "cannot raise the open-file limit");
    }
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |(s, _)| s);
    // Connections, plus the store's files, listeners and outbound sessions.
    let wanted = u64::from(cfg.limits.max_connections) + 1024;
    if limit < wanted {
        warn!(
            target: "hato::serve",
            limit,
            max_connections = cfg.limits.max_connections,
            "the open-file limit is below [limits] max_connections + 1024: connections past it will fail; raise it (ulimit -n) or lower max_connections"
        );
    }
}

pub async fn serve(cfg: Config) -> Result<(), ServeError> {
    crate::logs::init(&cfg.log.level)?;
    raise_open_files(&cfg);
    let cfg = Arc::new(cfg);
    // Checked before anything listens: a broken script is a config error.
    let (path, required) = match &cfg.sieve.server_script {
        Some(p) => (p.clone(), true),
        None => (cfg.data_dir.join("server.sieve"), false),
    };
    let server_sieve = Arc::new(crate::sieve::server::ServerScript::load(path, required).map_err(ServeError::Startup)?);
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", cfg.data_dir.display())))?;
    // The node API first: a member lets nodes in whatever its store is doing.
    let cluster = cfg.cluster_dir();
    if cluster.exists() {
        let node = cluster.load().map_err(|e| ServeError::Startup(e.to_string()))?;
        let addr = crate::cluster::api::addr_of(&node, node.address).to_string();
        if let Some(l) = open(&addr, "cluster-api").await? {
            let member = crate::cluster::api::Member {
                dir: cluster.clone(),
                config: cfg.source.clone(),
                data_dir: cfg.data_dir.clone(),
                supervised: cfg.web.appliance_status.is_some(),
            };
            tokio::spawn(crate::cluster::api::serve(member, l));
        }
    }
    let store = Arc::new(open_store(&cfg).await?);
    if cluster.exists() {
        tokio::spawn(crate::cluster::remember_members(store.clone(), cluster.clone()));
    }
    // IDLE sessions here hear of changes made through other cluster nodes.
    tokio::spawn(store.clone().follow_changes());
    tokio::spawn(crate::store::membership::watch(store.clone()));
    if cfg.demo {
        create_demo(&store).await?;
        create_demo_admin(&cfg)?;
    }
    let (cert, key) = crate::tls::ensure_certificate(&cfg)?;
    let certs = crate::tls::Certificates::load_with_sni(&cert, &key, &cfg.tls.sni)?;
    let tls = crate::tls::acceptor(certs.clone())?;
    let guard = Guard::new(cfg.limits.clone());
    let queue_wake = Arc::new(Notify::new());
    // One resolver, so one cache, for routing, blocklists and mail authentication.
    let dns = crate::dns::Dns::new(&cfg.delivery.dns_servers);

    let control = Arc::new(crate::control::Server {
        queue_wake: queue_wake.clone(),
        guard: guard.clone(),
        store: store.clone(),
        started: crate::clock::now(),
        data_dir: cfg.data_dir.clone(),
    });
    let sock = cfg.control_socket();
    control.listen(&sock).await.map_err(|source| ServeError::Control { path: sock.display().to_string(), source })?;

    let pop3 = Arc::new(crate::pop3::Shared {
        cfg: cfg.clone(),
        store: store.clone(),
        guard: guard.clone(),
        tls: tls.clone(),
        locks: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    for (implicit_tls, addr, name) in [(false, &cfg.pop3.listen, "pop3"), (true, &cfg.pop3.tls_listen, "pop3s")] {
        if let Some(l) = open(addr, name).await? {
            tokio::spawn(crate::pop3::serve(l, implicit_tls, pop3.clone()));
        }
    }
    let imap = Arc::new(crate::imap::Shared {
        cfg: cfg.clone(),
        store: store.clone(),
        guard: guard.clone(),
        tls: tls.clone(),
        sketches: Default::default(),
        views: Default::default(),
    });
    for (implicit_tls, addr, name) in [(false, &cfg.imap.listen, "imap"), (true, &cfg.imap.tls_listen, "imaps")] {
        if let Some(l) = open(addr, name).await? {
            tokio::spawn(crate::imap::serve(l, implicit_tls, imap.clone()));
        }
    }
    let sieve = Arc::new(crate::managesieve::Shared {
        cfg: cfg.clone(),
        store: store.clone(),
        guard: guard.clone(),
        tls: tls.clone(),
    });
    if let Some(l) = open(&cfg.sieve.managesieve_listen, "managesieve").await? {
        tokio::spawn(crate::managesieve::serve(l, sieve));
    }
    let spam = Arc::new(crate::spam::Scorer::new(cfg.spam.clone(), store.clone(), dns.clone()));
    let mailauth = Arc::new(crate::mailauth::Checker::new(cfg.mail_auth.clone(), dns.clone(), &cfg.hostname));
    let shared = Arc::new(smtp::Shared {
        cfg: cfg.clone(),
        store: store.clone(),
        guard: guard.clone(),
        tls: tls.clone(),
        queue_wake: queue_wake.clone(),
        spam,
        mailauth,
        server_sieve: server_sieve.clone(),
    });
    for service in [Service::Mx, Service::Submission, Service::Submissions] {
        let addr = match service {
            Service::Mx => &cfg.smtp.mx_listen,
            Service::Submission => &cfg.smtp.submission_listen,
            Service::Submissions => &cfg.smtp.submissions_listen,
        };
        if let Some(l) = open(addr, service.name()).await? {
            tokio::spawn(smtp::server::serve(l, service, shared.clone()));
        }
    }

    let web = Arc::new(crate::web::App {
        cfg: cfg.clone(),
        store: store.clone(),
        guard: guard.clone(),
        sessions: crate::web::session::Sessions::new(store.clone(), crate::web::idle(&cfg)),
        queue_wake: queue_wake.clone(),
        history: Default::default(),
        server_sieve: server_sieve.clone(),
        certs: certs.clone(),
    });
    let share = cluster.exists().then(|| crate::cluster::shared::Local {
        cfg: cfg.clone(),
        store: store.clone(),
        sieve: server_sieve.clone(),
        certs: certs.clone(),
    });
    if let Some(local) = share.clone() {
        tokio::spawn(crate::cluster::shared::follow(local));
    }
    match crate::web::http::serve(&cfg.web.http_listen, store.clone()).await {
        Ok(Some(addr)) => info!(target: "hato::serve", service = "http", addr = %addr, "listening"),
        Ok(None) => {}
        Err(source) => return Err(ServeError::Bind { addr: cfg.web.http_listen.clone(), service: "http", source }),
    }
    if !cfg.acme.directory.is_empty() {
        tokio::spawn(crate::acme::run(crate::acme::Acme { cfg: cfg.clone(), store: store.clone(), certs, share }));
    }
    match crate::web::serve(web, tls.clone()).await {
        Ok(Some(addr)) => info!(target: "hato::serve", service = "web", addr = %addr, "listening"),
        Ok(None) => {}
        Err(source) => return Err(ServeError::Bind { addr: cfg.web.listen.clone(), service: "web", source }),
    }
    let runner = crate::queue::Runner::new(cfg.clone(), store.clone(), queue_wake, dns);
    tokio::spawn(runner.run());
    tokio::spawn(crate::archive::indexer(store.clone()));
    let s = store.clone();
    tokio::spawn(retention("quarantine", cfg.filter.quarantine_days, move |before| {
        let s = s.clone();
        async move { s.quarantine_expire(before).await }
    }));
    let s = store.clone();
    tokio::spawn(retention("archive", cfg.archive.retention_days, move |before| {
        let s = s.clone();
        async move { s.archive_expire(before).await }
    }));
    info!(target: "hato::serve", version = env!("CARGO_PKG_VERSION"), data_dir = %cfg.data_dir.display(), "Hato is ready");

    wait_for_stop().await;
    // Nothing to flush: every acknowledged message is already committed, and
    // sessions cut off here never got their 250.
    info!(target: "hato::serve", "stopping");
    let _ = std::fs::remove_file(&sock);
    Ok(())
}

/// A retention sweep, hourly: `expire(before)` deletes what is older than
/// `days` days (0: keep forever) and says how many went.
async fn retention<F, Fut>(what: &'static str, days: u64, expire: F)
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<usize, StoreError>>,
{
    if days == 0 {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match expire(crate::clock::now() - (days as i64) * 86_400).await {
            Ok(0) => {}
            Ok(n) => info!(target: "hato::serve", what, removed = n, days, "retention: old messages deleted"),
            Err(e) => warn!(target: "hato::serve", what, "retention sweep failed: {e}"),
        }
    }
}

/// Opens the store; a cluster store whose local node is not up yet (it
/// starts beside this server, or is still copying its data from another
/// node) is waited for rather than failed on, so the supervisor does not
/// count a joining node's long state transfer as crashes.
async fn open_store(cfg: &Config) -> Result<Store, ServeError> {
    let mut waited = 0u32;
    loop {
        match Store::open(cfg).await {
            Err(StoreError::Unavailable(why)) if cfg.store.backend == crate::config::StoreBackend::Galera => {
                if waited.is_multiple_of(30) {
                    warn!(target: "hato::serve", "waiting for the cluster store: {why}");
                }
                waited += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Binds a service's address; an empty address means the service is off.
async fn open(addr: &str, service: &'static str) -> Result<Option<tokio::net::TcpListener>, ServeError> {
    if addr.is_empty() {
        return Ok(None);
    }
    let l =
        crate::listener::bind(addr).map_err(|source| ServeError::Bind { addr: addr.to_string(), service, source })?;
    info!(target: "hato::serve", service, addr = %addr, "listening");
    Ok(Some(l))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(target: "hato::serve", "cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// On an empty development server, a domain and an account to try things with.
async fn create_demo(store: &Store) -> Result<(), ServeError> {
    if !store.domains().await?.is_empty() {
        return Ok(());
    }
    let password = crate::ids::token(12);
    store.add_domain("demo.test".into()).await?;
    store
        .add_account(Account {
            address: "demo@demo.test".into(),
            display_name: "Demo User".into(),
            quota_bytes: 0,
            used_bytes: 0,
            enabled: true,
            password_hash: crate::directory::hash_password(&password)?,
            role: Default::default(),
        })
        .await?;
    // Printed, not logged: the password must not sit in log files.
    eprintln!(
        "\n  Demo account created: demo@demo.test  password: {password}\n  (change it with `hato ctl account passwd demo@demo.test`)\n"
    );
    Ok(())
}

/// On a development server without one, the web console's administrator password.
fn create_demo_admin(cfg: &Config) -> Result<(), ServeError> {
    let path = cfg.admin_hash_file();
    if path.exists() {
        return Ok(());
    }
    let password = crate::ids::token(12);
    let hash = crate::directory::hash_password(&password)?;
    crate::files::write_private(&path, hash.as_bytes())
        .map_err(|e| ServeError::Startup(format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "\n  Web console: https://{}/  user: admin  password: {password}\n  (change it with `hato ctl admin-password`)\n",
        cfg.web.listen
    );
    Ok(())
}
