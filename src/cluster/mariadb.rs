//! `hato galera-node`: this node's MariaDB Galera server, as the supervisor
//! runs it. It waits for the cluster directory (`init` or `join` writes it),
//! writes my.cnf from it, decides how to start, and then becomes mariadbd
//! (exec), so the supervisor's signals and restarts reach the database itself.
//!
//! How it starts (`decide`, unit-tested):
//! - an empty data directory: initialise it; start a new cluster only if
//!   `init` asked for one (`bootstrap`), else join and take a full copy
//!   (mariabackup state transfer, over TLS);
//! - after a crash (grastate seqno -1): recover the last committed position
//!   from InnoDB first, so the node catches up by IST instead of a full copy;
//! - the last node of an orderly full shutdown (`safe_to_bootstrap: 1`)
//!   starts the cluster again when no member is Primary; every other node
//!   waits for it. After a full power loss no node is safe to bootstrap:
//!   Galera's `pc.recovery` re-forms the last primary component by itself
//!   once its members are back. No other path bootstraps: never two primaries.
//!   Each keeps its write-set cache across the crash (`gcache.recover`), so
//!   the ones behind catch up by IST rather than by a full copy.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tracing::{info, warn};

use super::ClusterError;
use super::node::{Dir, NodeFile};

const MARIADBD: &str = "/usr/sbin/mariadbd";

/// What grastate.dat says about the last run.
#[derive(Debug, Default, PartialEq)]
pub struct GraState {
    pub seqno: i64,
    pub safe_to_bootstrap: bool,
}

impl GraState {
    pub fn parse(text: &str) -> GraState {
        let mut g = GraState { seqno: -1, safe_to_bootstrap: false };
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(':') {
                match k.trim() {
                    "seqno" => g.seqno = v.trim().parse().unwrap_or(-1),
                    "safe_to_bootstrap" => g.safe_to_bootstrap = v.trim() == "1",
                    _ => {}
                }
            }
        }
        g
    }
}

#[derive(Debug, PartialEq)]
pub enum Start {
    /// A new cluster on a fresh data directory, with the users and database created.
    NewCluster,
    /// Join the members (a full copy if this data directory is new).
    Join,
    /// Recover the position from InnoDB, then join (IST when the donor still has it).
    RecoverThenJoin,
    /// The last node of an orderly shutdown of every node: start the cluster again.
    Restart,
}

/// How to start, from the data directory's state. `any_primary` is asked
/// only when it matters (it takes a network round).
pub fn decide(fresh: bool, bootstrap: bool, grastate: Option<&GraState>, any_primary: impl FnOnce() -> bool) -> Start {
    if fresh {
        return if bootstrap { Start::NewCluster } else { Start::Join };
    }
    match grastate {
        Some(g) if g.safe_to_bootstrap && g.seqno >= 0 && !any_primary() => Start::Restart,
        Some(g) if g.seqno < 0 => Start::RecoverThenJoin,
        _ => Start::Join,
    }
}

/// my.cnf for this node. TLS everywhere: client connections, replication
/// (socket.ssl_*), state transfer ([sst] with the node's certificate).
pub fn my_cnf(node: &NodeFile, dir: &Dir, sst_password: &str, as_root: bool) -> String {
    let p = node.ports;
    let members: Vec<String> = node.members.iter().map(|m| NodeFile::at(*m, p.gcomm)).collect();
    let me = node.address;
    let (ca, cert, key) = (dir.ca_cert(), dir.cert(), dir.key());
    let (ca, cert, key) = (ca.display(), cert.display(), key.display());
    let run = node.run_dir.display();
    // As root (development and tests), mariadbd drops to mysql itself.
    let user = if as_root { "user=mysql\n" } else { "" };
    format!(
        "# Written by hato galera-node from {cluster_file} at every start; edits here are lost.
[mysqld]
{user}datadir={datadir}
socket={run}/mysqld.sock
pid-file={run}/mariadbd.pid
bind-address={me}
port={sql}
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_bin
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_flush_log_at_trx_commit=1
innodb_buffer_pool_size=128M
max_allowed_packet=64M
max_connections=500
ssl_ca={ca}
ssl_cert={cert}
ssl_key={key}
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name={name}
wsrep_cluster_address=gcomm://{members}
wsrep_node_name={node_name}
wsrep_node_address={gcomm_addr}
wsrep_node_incoming_address={sql_addr}
wsrep_sst_method=mariabackup
wsrep_sst_auth=hato_sst:{sst_password}
wsrep_sst_receive_address={sst_addr}
wsrep_slave_threads=4
wsrep_provider_options=\"gmcast.listen_addr=tcp://{gcomm_addr};ist.recv_addr={ist_addr};pc.recovery=TRUE;gcache.size=128M;gcache.recover=yes;evs.suspect_timeout={suspect};evs.inactive_timeout=PT15S;evs.keepalive_period=PT0.5S;socket.ssl=YES;socket.ssl_ca={ca};socket.ssl_cert={cert};socket.ssl_key={key}\"
[sst]
encrypt=3
# socat listens for a state transfer on every address unless told: two nodes on one host (tests,
# a lab) would both want the port, and the second's transfer would fail.
sockopt={sst_bind}
# The chain is checked against the cluster CA; names are not (certificates name IP addresses,
# which the SST script would compare as \"localhost\" on loopback).
ssl-mode=VERIFY_CA
tca={ca}
tcert={cert}
tkey={key}
[client]
socket={run}/mysqld.sock
",
        cluster_file = dir.file().display(),
        datadir = node.mysql_dir.display(),
        sql = p.sql,
        name = node.name,
        members = members.join(","),
        node_name = node.node_name,
        gcomm_addr = NodeFile::at(me, p.gcomm),
        sql_addr = NodeFile::at(me, p.sql),
        sst_addr = NodeFile::at(me, p.sst),
        ist_addr = NodeFile::at(me, p.ist),
        sst_bind = match me {
            std::net::IpAddr::V4(a) => format!("bind={a}"),
            std::net::IpAddr::V6(a) => format!("bind=[{a}]"),
        },
        suspect = node.suspect_timeout,
    )
}

/// SQL run once, when this node starts a new cluster: Hato's database and
/// user (TLS only; it may stop its own node, which `leave` does) and the
/// state-transfer user. Galera replicates them.
pub fn bootstrap_sql(db_password: &str, sst_password: &str) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "CREATE DATABASE IF NOT EXISTS hato CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'hato'@'%' IDENTIFIED BY '{db}' REQUIRE SSL;
GRANT ALL PRIVILEGES ON hato.* TO 'hato'@'%';
GRANT SHUTDOWN ON *.* TO 'hato'@'%';
CREATE USER IF NOT EXISTS 'hato_sst'@'localhost' IDENTIFIED BY '{sst}';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'hato_sst'@'localhost';
",
        db = q(db_password),
        sst = q(sst_password)
    )
}

fn run_step(cmd: &mut Command, what: &str) -> Result<(), ClusterError> {
    let out = cmd.output().map_err(|e| ClusterError::Start(format!("{what}: {e}")))?;
    if !out.status.success() {
        // Some tools (mariadb-install-db) say why on stdout.
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = last[last.len().saturating_sub(5)..].join(" | ");
        return Err(ClusterError::Start(format!("{what} failed ({}): {tail}", out.status)));
    }
    Ok(())
}

/// Whether any other member answers as part of a Primary component. A
/// member that cannot be reached counts as not Primary.
fn any_primary(node: &NodeFile, dir: &Dir) -> bool {
    let Ok(password) = dir.secret(&dir.db_password()) else { return false };
    let peers: Vec<SocketAddr> = node.peers().map(|p| SocketAddr::new(p, node.ports.sql)).collect();
    let reachable: Vec<SocketAddr> =
        peers.into_iter().filter(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok()).collect();
    if reachable.is_empty() {
        return false;
    }
    let ca = dir.ca_cert();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return true, // cannot tell: do not risk a second primary
    };
    rt.block_on(async {
        for a in reachable {
            let status = tokio::time::timeout(Duration::from_secs(5), async {
                use mysql_async::prelude::Queryable;
                let mut c = connect(a, &password, &ca).await?;
                let row: Option<(String, String)> = c.query_first("SHOW STATUS LIKE 'wsrep_cluster_status'").await?;
                let _ = c.disconnect().await;
                Ok::<_, mysql_async::Error>(row.map(|r| r.1))
            })
            .await;
            if let Ok(Ok(Some(s))) = status
                && s == "Primary"
            {
                return true;
            }
        }
        false
    })
}

/// A connection as Hato's database user, over TLS checked against the cluster CA.
async fn connect(a: SocketAddr, password: &str, ca: &Path) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(a.ip().to_string())
        .tcp_port(a.port())
        .user(Some("hato"))
        .pass(Some(password.to_string()))
        .ssl_opts(Some(mysql_async::SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()])));
    mysql_async::Conn::new(opts).await
}

/// A member's Galera state as its own database reports it: local state
/// (Synced, Joiner …), component (Primary …) and component size; None
/// while it does not answer.
pub async fn galera_state(a: SocketAddr, password: &str, ca: &Path) -> Option<(String, String, u32)> {
    use mysql_async::prelude::Queryable;
    let ask = async {
        let mut c = connect(a, password, ca).await?;
        let rows: Vec<(String, String)> = c
            .query(
                "SHOW STATUS WHERE Variable_name IN
                 ('wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_cluster_size')",
            )
            .await?;
        let _ = c.disconnect().await;
        Ok::<_, mysql_async::Error>(rows)
    };
    let rows = tokio::time::timeout(Duration::from_secs(5), ask).await.ok()?.ok()?;
    let get = |k: &str| rows.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    Some((get("wsrep_local_state_comment"), get("wsrep_cluster_status"), get("wsrep_cluster_size").parse().ok()?))
}

/// Stops this node's database in order (it leaves the Galera cluster
/// cleanly) and waits until its port is closed.
pub async fn shutdown_local(node: &NodeFile, dir: &Dir, password: &str) -> Result<(), ClusterError> {
    use mysql_async::prelude::Queryable;
    let a = SocketAddr::new(node.address, node.ports.sql);
    let stop = async {
        let mut c = connect(a, password, &dir.ca_cert()).await?;
        c.query_drop("SHUTDOWN").await
    };
    match tokio::time::timeout(Duration::from_secs(30), stop).await {
        Ok(Ok(())) => {}
        // The server may close the connection before it answers.
        Ok(Err(mysql_async::Error::Io(_))) => {}
        Ok(Err(e)) => return Err(ClusterError::Start(format!("cannot stop this node's database at {a}: {e}"))),
        Err(_) => return Err(ClusterError::Start(format!("this node's database at {a} did not answer SHUTDOWN"))),
    }
    for _ in 0..240 {
        if tokio::net::TcpStream::connect(a).await.is_err() {
            info!(target: "hato::cluster", "this node's database stopped and left the Galera cluster");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(ClusterError::Start(format!("this node's database at {a} was still running 2 minutes after SHUTDOWN")))
}

/// The position InnoDB last committed, from `mariadbd --wsrep-recover`.
fn recover(cnf: &Path, run_dir: &Path) -> Option<String> {
    let log = run_dir.join("recover.log");
    let _ = std::fs::remove_file(&log);
    let status = Command::new(MARIADBD)
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg("--wsrep-recover")
        .arg(format!("--log-error={}", log.display()))
        .status();
    if let Err(e) = status {
        warn!(target: "hato::cluster", "mariadbd --wsrep-recover could not run: {e}");
        return None;
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    text.lines().rev().find_map(|l| l.split_once("Recovered position: ").map(|(_, p)| p.trim().to_string()))
}

/// Waits for the cluster directory, prepares, and execs mariadbd. Returns only on failure.
pub fn run(dir: &Dir) -> ClusterError {
    if !dir.exists() {
        info!(target: "hato::cluster", "no cluster here yet: waiting for `hato ctl cluster init` or `join` ({})", dir.file().display());
        while !dir.exists() {
            super::leave::wipe_if_left(dir);
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    match prepare(dir) {
        Ok(mut cmd) => ClusterError::Start(format!("cannot exec {MARIADBD}: {}", cmd.exec())),
        Err(e) => e,
    }
}

fn prepare(dir: &Dir) -> Result<Command, ClusterError> {
    let node = dir.load()?;
    let sst_password = dir.secret(&dir.sst_password())?;
    let as_root = nix::unistd::geteuid().is_root();
    let write_dir =
        |p: &Path| std::fs::create_dir_all(p).map_err(|source| ClusterError::Write { path: p.into(), source });
    write_dir(&node.run_dir)?;
    write_dir(&node.mysql_dir)?;
    if as_root {
        dir.share_with_mariadb();
        if let Ok(Some(u)) = nix::unistd::User::from_name("mysql") {
            for p in [&node.run_dir, &node.mysql_dir] {
                let _ = Command::new("chown").arg("-R").arg("mysql:mysql").arg(p).status();
                let _ = nix::unistd::chown(p.as_path(), Some(u.uid), Some(u.gid));
            }
        }
    }
    let cnf = node.run_dir.join("my.cnf");
    std::fs::write(&cnf, my_cnf(&node, dir, &sst_password, as_root))
        .map_err(|source| ClusterError::Write { path: cnf.clone(), source })?;
    if !node.mysql_dir.join("mysql").exists() {
        info!(target: "hato::cluster", "initialising the MariaDB data directory {}", node.mysql_dir.display());
        let mut install = Command::new("mariadb-install-db");
        install
            .arg(format!("--defaults-file={}", cnf.display()))
            .arg("--auth-root-authentication-method=socket")
            .arg("--skip-test-db")
            // It would insist on looking the host name up first; the server never resolves names.
            .arg("--force");
        if as_root {
            install.arg("--user=mysql");
        }
        run_step(&mut install, "mariadb-install-db")?;
    }
    // Galera writes grastate.dat when it first starts: until then this node never was a member.
    let grastate = std::fs::read_to_string(node.mysql_dir.join("grastate.dat")).ok().map(|t| GraState::parse(&t));
    let fresh = grastate.is_none();
    let start = decide(fresh, node.bootstrap, grastate.as_ref(), || any_primary(&node, dir));
    info!(target: "hato::cluster", start = ?start, node = %node.node_name, "starting MariaDB Galera");
    let mut cmd = Command::new(MARIADBD);
    cmd.arg(format!("--defaults-file={}", cnf.display()));
    match start {
        Start::NewCluster => {
            let init = node.run_dir.join("bootstrap.sql");
            let sql = bootstrap_sql(&dir.secret(&dir.db_password())?, &sst_password);
            std::fs::write(&init, sql).map_err(|source| ClusterError::Write { path: init.clone(), source })?;
            if as_root {
                let _ = Command::new("chown").arg("mysql:mysql").arg(&init).status();
            }
            cmd.arg("--wsrep-new-cluster").arg(format!("--init-file={}", init.display()));
        }
        Start::Restart => {
            cmd.arg("--wsrep-new-cluster");
        }
        Start::RecoverThenJoin => {
            if let Some(pos) = recover(&cnf, &node.run_dir) {
                info!(target: "hato::cluster", position = %pos, "recovered the last committed position");
                cmd.arg(format!("--wsrep_start_position={pos}"));
            }
        }
        Start::Join => {}
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(seqno: i64, safe: bool) -> GraState {
        GraState { seqno, safe_to_bootstrap: safe }
    }

    #[test]
    fn only_init_on_an_empty_directory_or_the_last_orderly_node_starts_a_cluster() {
        let never = || panic!("asked the members when it did not matter");
        assert_eq!(decide(true, true, None, never), Start::NewCluster);
        // A wiped node of a cluster made long ago joins: the bootstrap flag only counts on first start.
        assert_eq!(decide(true, false, None, never), Start::Join);
        assert_eq!(decide(false, true, Some(&g(-1, false)), never), Start::RecoverThenJoin);
        assert_eq!(decide(false, true, Some(&g(42, false)), never), Start::Join);
        assert_eq!(decide(false, false, Some(&g(42, true)), || false), Start::Restart);
        // Safe to bootstrap, but the others already run a primary component: join it.
        assert_eq!(decide(false, false, Some(&g(42, true)), || true), Start::Join);
        assert_eq!(decide(false, false, None, never), Start::Join);
    }

    #[test]
    fn grastate_is_read_as_mariadb_writes_it() {
        let text = "# GALERA saved state\nversion: 2.1\nuuid:    5f2ed1d4-1c1c-11ef-9a0a-0e2b5d9c4f11\nseqno:   -1\nsafe_to_bootstrap: 0\n";
        assert_eq!(GraState::parse(text), g(-1, false));
        assert_eq!(GraState::parse("seqno: 1234\nsafe_to_bootstrap: 1\n"), g(1234, true));
    }

    #[test]
    fn quotes_in_secrets_cannot_break_out_of_the_bootstrap_sql() {
        let sql = bootstrap_sql("a'b\\c", "x");
        assert!(sql.contains("IDENTIFIED BY 'a\\'b\\\\c' REQUIRE SSL"), "{sql}");
    }
}
