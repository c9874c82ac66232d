//! `[filter]`: what the content filters look for and what they do about it.

use serde::Deserialize;

/// What happens to a message a filter catches.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse it at DATA (554) with the reason; the sender's server bounces it.
    Reject,
    /// Accept it but hold it in quarantine for an administrator to release or delete.
    Quarantine,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Attachment file extensions refused (case-insensitive, without the dot).
    pub blocked_extensions: Vec<String>,
    pub extension_action: Action,
    /// Look inside archives (zip, tar, gzip) and archives in archives, this
    /// deep; one nested deeper is unreadable (`archive_action`).
    #[serde(alias = "zip_depth")]
    pub archive_depth: u32,
    /// What happens to a message with an archive whose contents cannot be
    /// checked: encrypted, damaged, 7z/rar, nested too deep, or unpacking
    /// past the bounds (a bomb). Never delivered unchecked.
    pub archive_action: Action,
    pub antivirus: Option<AntivirusConfig>,
    /// Held messages are deleted after this many days.
    pub quarantine_days: u64,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            blocked_extensions: [
                "exe",
                "scr",
                "com",
                "pif",
                "bat",
                "cmd",
                "vbs",
                "vbe",
                "js",
                "jse",
                "wsf",
                "wsh",
                "hta",
                "msi",
                "msp",
                "jar",
                "lnk",
                "iso",
                "img",
                "vhd",
                "vhdx",
                "cpl",
                "reg",
                "ps1",
                "psm1",
                "scf",
                "inf",
                "dll",
                "sys",
                "chm",
                "application",
                "gadget",
                "msc",
                "appx",
                "appxbundle",
                "msix",
                "library-ms",
                "settingcontent-ms",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            extension_action: Action::Reject,
            archive_depth: 3,
            archive_action: Action::Quarantine,
            antivirus: None,
            quarantine_days: 30,
        }
    }
}

/// `[archive]`: every message that passes through is kept (crate::archive).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Archived messages are deleted after this many days unless on legal hold (0: kept forever).
    pub retention_days: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AntivirusConfig {
    /// clamd's socket: a path (unix socket) or host:port.
    pub clamd: String,
    pub action: Action,
    /// Largest stream sent to clamd; keep it at or below clamd's StreamMaxLength.
    /// A larger message is scanned up to this size (clamd's own behaviour) — never passed unscanned.
    pub max_scan_bytes: usize,
    pub timeout_secs: u64,
}

impl Default for AntivirusConfig {
    fn default() -> Self {
        AntivirusConfig {
            clamd: "/run/clamav/clamd.ctl".into(),
            action: Action::Reject,
            max_scan_bytes: 25 * 1024 * 1024,
            timeout_secs: 60,
        }
    }
}
