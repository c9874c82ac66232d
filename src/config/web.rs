//! `[web]`: the HTTPS console (admin and WebMail) and its JSON API.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// HTTPS address; empty turns the console off. TLS uses the mail services' certificate.
    pub listen: String,
    /// Plain HTTP (port 80 on the appliance): ACME's http-01 challenges, and
    /// a redirect to the console over HTTPS for everything else. Empty: off.
    pub http_listen: String,
    /// The built-in administrator (`admin`)'s argon2 hash; default `<data_dir>/admin.hash`
    /// (the appliance keeps it at /data/etc/admin.hash, set on first boot).
    pub admin_hash_file: Option<PathBuf>,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u64,
    /// WebMail sends through this submission address (this server's own).
    pub submission: Option<String>,
    /// Largest upload (a message with its attachments), in bytes.
    pub max_upload_bytes: usize,
    /// On the appliance: the state `hato init` writes (services, RAID, disks, alerts).
    pub appliance_status: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8443".into(),
            http_listen: String::new(),
            admin_hash_file: None,
            session_idle_minutes: 60,
            submission: None,
            max_upload_bytes: 25 * 1024 * 1024,
            appliance_status: None,
        }
    }
}
