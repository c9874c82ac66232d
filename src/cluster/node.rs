//! This node's cluster directory: `cluster.toml` (who we are, who the members
//! are, which ports), the CA and this node's certificate, and the database
//! secrets, each in its own file so that MariaDB's user can be given read
//! access to what it needs and nothing else.
//!
//! ```text
//! <data_dir>/cluster/
//!   cluster.toml     name, node name, address, members, ports, data directories
//!   ca.pem ca.key    the cluster's CA (every member holds the key: any member lets nodes in)
//!   node.pem node.key
//!   db.password      Hato's database user
//!   sst.password     the state-transfer user (mariabackup on the donor)
//!   tokens.json      join tokens not yet used (hashes and expiry)
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterError;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// The cluster's name (Galera refuses members of another cluster).
    pub name: String,
    /// This node's name: Galera's node name and Hato's `store.node_name`.
    pub node_name: String,
    /// This node's address on the cluster network.
    pub address: IpAddr,
    /// Every member's address known here, this node's included. A node
    /// needs one live member in the list to find the cluster.
    pub members: Vec<IpAddr>,
    /// Set by `init`: `galera-node` starts a new cluster, but only on an
    /// empty data directory, so a later start never makes a second primary.
    #[serde(default)]
    pub bootstrap: bool,
    /// MariaDB's data directory.
    pub mysql_dir: PathBuf,
    /// Where MariaDB's socket, pid file and generated my.cnf go.
    pub run_dir: PathBuf,
    #[serde(default)]
    pub ports: Ports,
    /// Galera's evs.suspect_timeout: how long a silent member is waited for.
    /// Survivors stall about this long plus a second when a node dies.
    #[serde(default = "default_suspect")]
    pub suspect_timeout: String,
    /// The service addresses keepalived holds (`hato vrrp-node`).
    #[serde(default)]
    pub vrrp: super::vrrp::Vrrp,
}

fn default_suspect() -> String {
    "PT2S".into()
}

/// The same on every member (a joiner takes its peer's).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Ports {
    pub sql: u16,
    pub gcomm: u16,
    pub ist: u16,
    pub sst: u16,
    /// The node API (joins; later log search across nodes).
    pub api: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { sql: 3306, gcomm: 4567, ist: 4568, sst: 4444, api: 7443 }
    }
}

/// What makes a node a member, beside cluster.toml: the CA (key included),
/// this node's certificate (chained to the CA) and key, the database secrets.
#[derive(Debug, Deserialize, Serialize)]
pub struct Credentials {
    pub ca_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub db_password: String,
    pub sst_password: String,
}

impl Credentials {
    /// Credentials for the node `node_name` at `address`, its certificate signed by `ca`.
    pub fn issue(
        cluster: &str,
        ca: super::pki::Pair,
        node_name: &str,
        address: IpAddr,
        db_password: String,
        sst_password: String,
    ) -> Result<Credentials, ClusterError> {
        let pair = super::pki::node_certificate(cluster, &ca.key_pem, node_name, address)?;
        Ok(Credentials {
            cert_pem: format!("{}{}", pair.cert_pem, ca.cert_pem),
            key_pem: pair.key_pem,
            ca_pem: ca.cert_pem,
            ca_key_pem: ca.key_pem,
            db_password,
            sst_password,
        })
    }
}

/// The files of a cluster directory.
#[derive(Clone, Debug)]
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn file(&self) -> PathBuf {
        self.0.join("cluster.toml")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.0.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.0.join("ca.key")
    }
    pub fn cert(&self) -> PathBuf {
        self.0.join("node.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    pub fn db_password(&self) -> PathBuf {
        self.0.join("db.password")
    }
    pub fn sst_password(&self) -> PathBuf {
        self.0.join("sst.password")
    }
    pub fn tokens(&self) -> PathBuf {
        self.0.join("tokens.json")
    }
    /// cluster.toml of a cluster this node left (`leave`), until galera-node wiped its database.
    pub fn left(&self) -> PathBuf {
        self.0.join("left.toml")
    }

    pub fn exists(&self) -> bool {
        self.file().exists()
    }

    pub fn load(&self) -> Result<NodeFile, ClusterError> {
        self.load_from(self.file())
    }

    pub fn load_left(&self) -> Result<NodeFile, ClusterError> {
        self.load_from(self.left())
    }

    fn load_from(&self, path: PathBuf) -> Result<NodeFile, ClusterError> {
        let text =
            std::fs::read_to_string(&path).map_err(|source| ClusterError::Read { path: path.clone(), source })?;
        toml::from_str(&text).map_err(|e| ClusterError::Invalid { path, message: e.to_string() })
    }

    /// Writes cluster.toml (replacing it whole, so it is opened to MariaDB's group again after).
    pub fn save(&self, node: &NodeFile) -> Result<(), ClusterError> {
        let text =
            toml::to_string(node).map_err(|e| ClusterError::Invalid { path: self.file(), message: e.to_string() })?;
        self.write(&self.file(), &text)?;
        self.share_with_mariadb();
        Ok(())
    }

    /// Leaving, first step: cluster.toml becomes left.toml, so galera-node
    /// neither starts the database again nor keeps its files.
    pub fn mark_left(&self) -> Result<(), ClusterError> {
        std::fs::rename(self.file(), self.left()).map_err(|source| ClusterError::Write { path: self.left(), source })
    }

    /// A leave that could not go on: a member again.
    pub fn unmark_left(&self) -> Result<(), ClusterError> {
        std::fs::rename(self.left(), self.file()).map_err(|source| ClusterError::Write { path: self.file(), source })
    }

    /// Leaving, last step: the certificates, keys, secrets and tokens go.
    pub fn remove_credentials(&self) -> Result<(), ClusterError> {
        for p in [
            self.ca_cert(),
            self.ca_key(),
            self.cert(),
            self.key(),
            self.db_password(),
            self.sst_password(),
            self.tokens(),
        ] {
            match std::fs::remove_file(&p) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ClusterError::Write { path: p, source });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Makes this directory a member's: the credentials first, cluster.toml
    /// last, since its presence is what starts galera-node.
    pub fn write_member(&self, c: &Credentials, node: &NodeFile) -> Result<(), ClusterError> {
        let _ = std::fs::remove_file(self.left());
        self.write(&self.ca_cert(), &c.ca_pem)?;
        self.write(&self.ca_key(), &c.ca_key_pem)?;
        self.write(&self.cert(), &c.cert_pem)?;
        self.write(&self.key(), &c.key_pem)?;
        self.write(&self.db_password(), &c.db_password)?;
        self.write(&self.sst_password(), &c.sst_password)?;
        self.save(node)
    }

    /// Adds members Galera reports that the list lacks (a node let in
    /// through another member), so a restart can find the cluster through
    /// any of them. Members are never dropped here: a node that is down is
    /// still a member. True if the list changed.
    pub fn remember(&self, seen: &[IpAddr]) -> Result<bool, ClusterError> {
        let mut node = self.load()?;
        let new: Vec<IpAddr> = seen.iter().copied().filter(|a| !node.members.contains(a)).collect();
        if new.is_empty() {
            return Ok(false);
        }
        node.members.extend(new);
        self.save(&node)?;
        Ok(true)
    }

    pub fn read(&self, path: &Path) -> Result<String, ClusterError> {
        std::fs::read_to_string(path).map_err(|source| ClusterError::Read { path: path.into(), source })
    }

    /// A secret's first line.
    pub fn secret(&self, path: &Path) -> Result<String, ClusterError> {
        Ok(self.read(path)?.lines().next().unwrap_or_default().trim().to_string())
    }

    /// Writes a file of the directory: owner-only at first, opened to
    /// MariaDB's group by `share_with_mariadb`.
    pub fn write(&self, path: &Path, text: &str) -> Result<(), ClusterError> {
        crate::files::write_private(path, text.as_bytes())
            .map_err(|source| ClusterError::Write { path: path.into(), source })
    }

    /// MariaDB (its own user) reads the certificates, the secrets and
    /// cluster.toml; the CA key and the tokens stay with their owner. On the
    /// appliance the directory is set-group-ID to MariaDB's group (`hato
    /// init` makes it so), so files made here are in that group already.
    /// Only root sets the directory's mode: the kernel clears set-group-ID
    /// when someone outside the group changes it.
    pub fn share_with_mariadb(&self) {
        use std::os::unix::fs::PermissionsExt;
        let group = nix::unistd::Group::from_name("mysql").ok().flatten();
        let files = [
            self.file(),
            self.left(),
            self.ca_cert(),
            self.cert(),
            self.key(),
            self.db_password(),
            self.sst_password(),
        ];
        for p in files {
            if let Some(g) = &group {
                let _ = nix::unistd::chown(&p, None, Some(g.gid));
            }
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640));
        }
        if nix::unistd::geteuid().is_root() {
            if let Some(g) = &group {
                let _ = nix::unistd::chown(&self.0, None, Some(g.gid));
            }
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o2750));
        }
    }
}

impl NodeFile {
    /// `host:port` of a member's service.
    pub fn at(addr: IpAddr, port: u16) -> String {
        std::net::SocketAddr::new(addr, port).to_string()
    }

    /// What an administrator should know about this membership now.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.members.len() == 2 {
            w.push(
                "the cluster has two members: neither can tell the other's failure from a network split, so \
                 losing either stops both. Join a third node."
                    .to_string(),
            );
        }
        w
    }

    /// The members other than this node.
    pub fn peers(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.members.iter().copied().filter(move |m| *m != self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_file_round_trips_and_lists_its_peers() {
        let dir = std::env::temp_dir().join(format!("hato-node-file-{}", std::process::id()));
        let d = Dir(dir.clone());
        let node = NodeFile {
            name: "c".into(),
            node_name: "n2".into(),
            address: "10.0.0.2".parse().unwrap(),
            members: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            bootstrap: false,
            mysql_dir: "/data/mysql".into(),
            run_dir: "/run/mysqld".into(),
            ports: Ports::default(),
            suspect_timeout: default_suspect(),
            vrrp: Default::default(),
        };
        d.save(&node).unwrap();
        assert_eq!(d.load().unwrap(), node);
        assert_eq!(node.peers().collect::<Vec<_>>(), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(node.warnings()[0].contains("two members"), "two members are warned of");
        assert_eq!(NodeFile::at(node.address, 3306), "10.0.0.2:3306");
        let seen: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        assert!(d.remember(&seen).unwrap());
        assert!(!d.remember(&seen).unwrap(), "nothing new the second time");
        assert_eq!(d.load().unwrap().members.len(), 3);
        assert!(d.load().unwrap().warnings().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
