//! The one configuration file (TOML) and its defaults.
//!
//! Every field has a default so that `hato serve` with no file runs a
//! development server on high ports; the appliance ships a file that sets the
//! standard ports. Unknown keys are refused so a typo never silently falls back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::cidr::Cidr;

mod acme;
pub mod edit;
mod filter;
mod mailauth;
mod spam;
mod store;
mod web;
pub use acme::AcmeConfig;
pub use filter::{Action, AntivirusConfig, ArchiveConfig, FilterConfig};
pub use mailauth::MailAuthConfig;
pub use spam::SpamConfig;
pub use store::{GaleraConfig, StoreBackend, StoreConfig};
pub use web::WebConfig;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write config file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("config value {key} is invalid: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name this server gives in banners, Received headers and bounces.
    pub hostname: String,
    /// Where the database, certificates and control socket live.
    pub data_dir: PathBuf,
    pub smtp: SmtpConfig,
    pub pop3: Pop3Config,
    pub imap: ImapConfig,
    pub limits: LimitsConfig,
    pub policy: PolicyConfig,
    pub queue: QueueConfig,
    pub delivery: DeliveryConfig,
    pub tls: TlsConfig,
    pub log: LogConfig,
    pub snmp: SnmpConfig,
    pub filter: FilterConfig,
    pub spam: SpamConfig,
    pub mail_auth: MailAuthConfig,
    pub sieve: SieveConfig,
    pub archive: ArchiveConfig,
    pub web: WebConfig,
    pub acme: AcmeConfig,
    pub store: StoreConfig,
    /// Create a demo domain and account on first start (development only).
    pub demo: bool,
    /// The file this was read from (the web console's settings page edits it).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("hato-data"),
            smtp: SmtpConfig::default(),
            pop3: Pop3Config::default(),
            imap: ImapConfig::default(),
            limits: LimitsConfig::default(),
            policy: PolicyConfig::default(),
            queue: QueueConfig::default(),
            delivery: DeliveryConfig::default(),
            filter: FilterConfig::default(),
            spam: SpamConfig::default(),
            mail_auth: MailAuthConfig::default(),
            sieve: SieveConfig::default(),
            archive: ArchiveConfig::default(),
            web: WebConfig::default(),
            acme: AcmeConfig::default(),
            store: StoreConfig::default(),
            tls: TlsConfig::default(),
            log: LogConfig::default(),
            snmp: SnmpConfig::default(),
            demo: false,
            source: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Inbound MX service: no AUTH, only local domains as recipients. Empty string disables.
    pub mx_listen: String,
    /// Submission with STARTTLS (587 on the appliance).
    pub submission_listen: String,
    /// Submission with implicit TLS (465 on the appliance).
    pub submissions_listen: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    /// Bad commands tolerated before the session is closed with 421.
    pub max_errors: u32,
    /// Authenticated senders may only use their own addresses (or aliases) as MAIL FROM.
    pub enforce_sender: bool,
    /// Allow AUTH without TLS (only sensible on loopback development setups).
    pub allow_plaintext_auth: bool,
    /// Received headers beyond this mean a mail loop.
    pub max_hops: usize,
    /// Milliseconds all DNS lookups of one inbound transaction (SPF, DKIM,
    /// DMARC, blocklists) may take together; past that each check left is a
    /// temperror and the message goes on without it.
    pub dns_budget_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            mx_listen: "127.0.0.1:2525".into(),
            submission_listen: "127.0.0.1:2587".into(),
            submissions_listen: "127.0.0.1:2465".into(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_errors: 10,
            enforce_sender: true,
            allow_plaintext_auth: false,
            max_hops: 50,
            dns_budget_ms: 3000,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// IMAP with STARTTLS (143 on the appliance). Empty string disables.
    pub listen: String,
    /// IMAP over TLS (993 on the appliance).
    pub tls_listen: String,
    /// Allow LOGIN/AUTHENTICATE without TLS (loopback development only).
    pub allow_plaintext_auth: bool,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig { listen: "127.0.0.1:2143".into(), tls_listen: "127.0.0.1:2993".into(), allow_plaintext_auth: false }
    }
}

/// `[sieve]`: users' filter scripts (ManageSieve) and the server's own script.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SieveConfig {
    /// ManageSieve (RFC 5804; 4190 on the appliance), with STARTTLS. Empty string disables.
    pub managesieve_listen: String,
    /// Allow AUTHENTICATE without TLS (loopback development only).
    pub allow_plaintext_auth: bool,
    /// A Sieve script run on every message before it is queued (reject,
    /// discard, redirect); checked at start-up.
    pub server_script: Option<PathBuf>,
    /// Scripts a user may keep.
    pub max_scripts: usize,
}

impl Default for SieveConfig {
    fn default() -> Self {
        SieveConfig {
            managesieve_listen: "127.0.0.1:4190".into(),
            allow_plaintext_auth: false,
            server_script: None,
            max_scripts: 20,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3Config {
    /// POP3 with STLS (110 on the appliance). Empty string disables.
    pub listen: String,
    /// POP3 over TLS (995 on the appliance).
    pub tls_listen: String,
    /// Allow USER/PASS and AUTH without TLS (loopback development only).
    pub allow_plaintext_auth: bool,
    pub login_timeout_secs: u64,
    /// RFC 1939 asks for at least 10 minutes.
    pub idle_timeout_secs: u64,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            listen: "127.0.0.1:2110".into(),
            tls_listen: "127.0.0.1:2995".into(),
            allow_plaintext_auth: false,
            login_timeout_secs: 60,
            idle_timeout_secs: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections of all protocols together. IMAP clients keep one or more
    /// open per user and device (IDLE), so thousands are ordinary.
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    pub connections_per_ip_per_minute: u32,
    pub messages_per_ip_per_minute: u32,
    /// Failed logins from one address (for any users) that lock the address out.
    pub auth_failures_per_ip: u32,
    /// Failed logins for one account from one address that lock that
    /// address out of that account; from elsewhere the account still works,
    /// so nobody can lock a user out by failing their password.
    pub auth_failures_per_account: u32,
    /// How long a failure counts, and so how long a lockout lasts.
    pub auth_lockout_secs: u64,
    /// Failed logins for one account from all addresses after which every
    /// login to it waits `auth_slow_secs` before its answer (a guess spread
    /// over many addresses is slowed, the right password still works).
    pub auth_slow_after: u32,
    pub auth_slow_secs: u64,
    /// Networks exempt from the per-IP limits (never from reject lists).
    pub exempt: Vec<Cidr>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 20_000,
            max_connections_per_ip: 50,
            connections_per_ip_per_minute: 600,
            messages_per_ip_per_minute: 1200,
            auth_failures_per_ip: 10,
            auth_failures_per_account: 5,
            auth_lockout_secs: 900,
            auth_slow_after: 20,
            auth_slow_secs: 3,
            exempt: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Clients refused at connect (554).
    pub reject_ips: Vec<Cidr>,
    /// HELO/EHLO names refused (exact, or a suffix when starting with '.').
    pub reject_helo: Vec<String>,
    /// Envelope senders refused: a full address, or "@domain" for a whole domain.
    pub reject_senders: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Delay before each retry; the last one repeats until max_age_secs.
    pub retry_schedule_secs: Vec<u64>,
    /// Undelivered after this long: bounce to the sender.
    pub max_age_secs: u64,
    /// Still undelivered after this long: tell the sender once that it is
    /// delayed (unless their NOTIFY said otherwise). 0: never.
    pub delay_warning_secs: u64,
    /// Simultaneous remote deliveries overall and per destination domain.
    pub workers: usize,
    pub per_destination_concurrency: usize,
    /// Simultaneous local deliveries. Deliveries into one mailbox take turns
    /// on its UID counter, and each holds a store connection while it waits:
    /// more of them than this starve SMTP intake of connections.
    pub local_workers: usize,
    /// How often the scheduler looks for due entries without being woken.
    pub scan_interval_ms: u64,
    /// How long a node's claim on an entry it delivers holds (renewed while
    /// the delivery runs): after a node dies, others take its entries over
    /// once this has passed.
    pub lease_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            retry_schedule_secs: vec![60, 300, 900, 1800, 3600, 7200, 14400],
            max_age_secs: 5 * 86_400,
            delay_warning_secs: 4 * 3600,
            workers: 32,
            per_destination_concurrency: 4,
            local_workers: 4,
            scan_interval_ms: 1000,
            lease_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Send all remote mail through this relay instead of MX lookup.
    pub smarthost: Option<Smarthost>,
    /// Fixed next hop per recipient domain ("host:port"), checked before the smarthost and MX.
    pub routes: BTreeMap<String, String>,
    /// Port used for MX hosts (25 in production).
    pub mx_port: u16,
    pub connect_timeout_secs: u64,
    pub command_timeout_secs: u64,
    /// Try STARTTLS when the receiver offers it.
    pub opportunistic_tls: bool,
    /// DNS servers ("ip:port") for MX lookups; empty means the system's resolv.conf.
    pub dns_servers: Vec<SocketAddr>,
    /// PEM certificate(s) of a private CA trusted besides the public roots
    /// wherever outbound TLS is verified: the smarthost (always) and MX
    /// hosts of domains with an MTA-STS policy.
    pub ca_file: Option<PathBuf>,
    /// Follow the MTA-STS policies (RFC 8461) recipient domains publish.
    pub mta_sts: bool,
    /// Follow DANE (RFC 7672): TLSA records of DNSSEC-signed domains, as
    /// validated by the resolver in `dns_servers` (the appliance's unbound).
    pub dane: bool,
    /// The HTTPS port MTA-STS policies are fetched from (443; tests only).
    pub mta_sts_port: u16,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            smarthost: None,
            routes: BTreeMap::new(),
            mx_port: 25,
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            opportunistic_tls: true,
            dns_servers: Vec::new(),
            ca_file: None,
            mta_sts: true,
            dane: true,
            mta_sts_port: 443,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smarthost {
    /// "host:port"
    pub address: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Refuse to send (and to authenticate) unless STARTTLS succeeds.
    #[serde(default)]
    pub require_tls: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain and key; when unset, a self-signed pair is made in data_dir/tls.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// More certificates, each presented to clients that ask for one of its
    /// names (SNI), e.g. one per mail domain; the one above is for the rest.
    pub sni: Vec<SniCertificate>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniCertificate {
    /// Names this certificate is presented for ("mail.example.com", "*.example.com").
    pub names: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// SNMP on the appliance: net-snmp's snmpd is the master agent, configured from here.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpConfig {
    /// SNMPv2c read-only community; unset means no v2c access. Prefer v3.
    pub community: Option<String>,
    /// Networks allowed to use the community (default: anyone who knows it).
    pub community_sources: Vec<String>,
    /// SNMPv3 read-only user with SHA authentication and AES privacy.
    pub v3_user: Option<String>,
    pub v3_auth_password: Option<String>,
    pub v3_priv_password: Option<String>,
    pub location: String,
    pub contact: String,
    /// Where traps go ("host" or "host:port"), sent with the community (v2c).
    pub trap_sinks: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing directives, e.g. "info,smtp=debug"; changeable at run time with `hato ctl log level`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into() }
    }
}

impl Config {
    /// Loads a file, or the development defaults when `path` is None.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg = match path {
            None => Config { demo: true, ..Config::default() },
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                let mut cfg: Config = toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
                if cfg.data_dir.is_relative()
                    && let Some(dir) = path.parent()
                {
                    cfg.data_dir = dir.join(&cfg.data_dir);
                }
                cfg.source = Some(path.to_path_buf());
                cfg
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, addr) in [
            ("smtp.mx_listen", &self.smtp.mx_listen),
            ("smtp.submission_listen", &self.smtp.submission_listen),
            ("smtp.submissions_listen", &self.smtp.submissions_listen),
            ("pop3.listen", &self.pop3.listen),
            ("pop3.tls_listen", &self.pop3.tls_listen),
            ("imap.listen", &self.imap.listen),
            ("imap.tls_listen", &self.imap.tls_listen),
            ("sieve.managesieve_listen", &self.sieve.managesieve_listen),
            ("web.listen", &self.web.listen),
            ("web.http_listen", &self.web.http_listen),
        ] {
            if !addr.is_empty() && addr.parse::<SocketAddr>().is_err() {
                return Err(ConfigError::Invalid { key, message: format!("'{addr}' is not ip:port") });
            }
        }
        if !self.acme.directory.is_empty() {
            crate::https::Target::parse(&self.acme.directory)
                .map_err(|e| ConfigError::Invalid { key: "acme.directory", message: e.to_string() })?;
            if self.acme.domains.is_empty() {
                return Err(ConfigError::Invalid { key: "acme.domains", message: "name at least one domain".into() });
            }
            if self.web.http_listen.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "web.http_listen",
                    message: "ACME answers its http-01 challenges there (port 80)".into(),
                });
            }
        }
        if let Some(ca) = &self.acme.ca_file {
            crate::tls::client_roots(Some(ca))
                .map_err(|e| ConfigError::Invalid { key: "acme.ca_file", message: e.to_string() })?;
        }
        if let Some(ca) = &self.delivery.ca_file {
            crate::tls::client_roots(Some(ca))
                .map_err(|e| ConfigError::Invalid { key: "delivery.ca_file", message: e.to_string() })?;
        }
        if self.queue.retry_schedule_secs.is_empty() {
            return Err(ConfigError::Invalid {
                key: "queue.retry_schedule_secs",
                message: "needs at least one delay".into(),
            });
        }
        if self.queue.lease_secs < 3 {
            return Err(ConfigError::Invalid { key: "queue.lease_secs", message: "must be at least 3".into() });
        }
        if self.queue.workers == 0 || self.queue.per_destination_concurrency == 0 || self.queue.local_workers == 0 {
            return Err(ConfigError::Invalid { key: "queue.workers", message: "must be at least 1".into() });
        }
        if let Some(u) = &self.snmp.v3_user {
            let ok = |p: &Option<String>| p.as_ref().is_some_and(|p| p.len() >= 8);
            if !ok(&self.snmp.v3_auth_password) || !ok(&self.snmp.v3_priv_password) {
                return Err(ConfigError::Invalid {
                    key: "snmp.v3_user",
                    message: format!("user {u} needs v3_auth_password and v3_priv_password of at least 8 characters"),
                });
            }
        }
        let spam = &self.spam;
        if spam.junk_at <= 0.0 || [spam.quarantine_at, spam.reject_at].iter().any(|t| *t != 0.0 && *t < spam.junk_at) {
            return Err(ConfigError::Invalid {
                key: "spam.junk_at",
                message: "junk_at must be above 0, and quarantine_at and reject_at (when not 0) at or above it".into(),
            });
        }
        self.store.validate()?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid {
                key: "tls.cert",
                message: "set both tls.cert and tls.key, or neither".into(),
            });
        }
        Ok(())
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("hato.db")
    }

    /// The SQLite store's archive index (`store::archive_index`), beside its database.
    pub fn db_index_path(&self) -> PathBuf {
        self.data_dir.join("hato.db.archive-index")
    }

    pub fn admin_hash_file(&self) -> PathBuf {
        self.web.admin_hash_file.clone().unwrap_or_else(|| self.data_dir.join("admin.hash"))
    }

    pub fn control_socket(&self) -> PathBuf {
        self.data_dir.join("control.sock")
    }

    /// This node's cluster directory (see `cluster::node`); there is a
    /// cluster only when it holds a cluster.toml.
    pub fn cluster_dir(&self) -> crate::cluster::node::Dir {
        crate::cluster::node::Dir(self.data_dir.join("cluster"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn the_appliance_config_is_valid() {
        let cfg: Config = toml::from_str(include_str!("../../rootfs/etc/hato/hato.toml")).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.filter.antivirus.unwrap().clamd, "/run/clamav/clamd.ctl");
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let e = toml::from_str::<Config>("hostnme = \"x\"").unwrap_err();
        assert!(e.to_string().contains("hostnme"));
        let cfg: Config = toml::from_str("[smtp]\nmx_listen = \"nonsense\"").unwrap();
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid { key: "smtp.mx_listen", .. })));
        let cfg: Config = toml::from_str("[policy]\nreject_ips = [\"10.0.0.0/8\"]").unwrap();
        assert_eq!(cfg.policy.reject_ips.len(), 1);
        assert!(toml::from_str::<Config>("[policy]\nreject_ips = [\"10.0.0.0/99\"]").is_err());
    }
}
