//! Changing the configuration file from the web console: keys are set or
//! removed in place (comments and layout stay, via toml_edit), and the
//! result must load as a valid configuration before anything is written.

use std::collections::BTreeMap;
use std::path::Path;

use toml_edit::{DocumentMut, Item, Value};

use super::{Config, ConfigError};

pub enum Change {
    /// Set `table.key` (dotted, e.g. "spam.junk_at") to a value.
    Set(&'static str, Value),
    /// Remove the key, so its default applies.
    Remove(&'static str),
}

/// The new file text with the changes made; refused if it would not load.
pub fn apply(text: &str, changes: &[Change]) -> Result<String, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key: "config", message };
    let mut doc: DocumentMut = text.parse().map_err(|e| invalid(format!("the current file does not parse: {e}")))?;
    for change in changes {
        let (path, value) = match change {
            Change::Set(p, v) => (*p, Some(v.clone())),
            Change::Remove(p) => (*p, None),
        };
        let mut parts: Vec<&str> = path.split('.').collect();
        let key = parts.pop().unwrap_or(path);
        let mut table = doc.as_table_mut();
        for p in parts {
            if value.is_none() && !table.contains_key(p) {
                // Nothing to remove; and an empty table must not appear.
                break;
            }
            if !table.contains_key(p) {
                table.insert(p, Item::Table(toml_edit::Table::new()));
            }
            table = match table.get_mut(p).and_then(Item::as_table_mut) {
                Some(t) => t,
                None => return Err(invalid(format!("{p} is not a table in the file"))),
            };
        }
        match value {
            None if !table.contains_key(key) => {}
            // Replacing the item in place keeps the key's comments.
            Some(v) => match table.get_mut(key) {
                Some(item) => *item = Item::Value(v),
                None => {
                    table.insert(key, Item::Value(v));
                }
            },
            None => {
                table.remove(key);
            }
        }
    }
    let out = doc.to_string();
    let cfg: Config = toml::from_str(&out).map_err(|e| invalid(e.to_string()))?;
    cfg.validate()?;
    Ok(out)
}

/// Changes the configuration file at `path` in place (see `apply`), keeping
/// the old text as a backup; false when the file already said so.
pub fn change_file(path: &Path, data_dir: &Path, changes: &[Change]) -> Result<bool, ConfigError> {
    let text = read(path)?;
    let new = apply(&text, changes)?;
    if new == text {
        return Ok(false);
    }
    write(path, data_dir, &text, &new).map_err(|source| ConfigError::Write { path: path.into(), source })?;
    Ok(true)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })
}

/// The keys the web console changes, which a cluster's members share
/// (crate::cluster::shared). Each is one the console's settings form sets.
pub const CONSOLE_KEYS: [&str; 17] = [
    "delivery.smarthost.address",
    "delivery.smarthost.username",
    "delivery.smarthost.password",
    "delivery.smarthost.require_tls",
    "smtp.max_message_size",
    "smtp.max_recipients",
    "limits.max_connections",
    "limits.max_connections_per_ip",
    "limits.messages_per_ip_per_minute",
    "filter.blocked_extensions",
    "filter.extension_action",
    "spam.enabled",
    "spam.junk_at",
    "spam.quarantine_at",
    "spam.reject_at",
    "spam.dnsbl",
    "spam.uribl",
];

/// The console's keys as the file at `path` has them: each key's value as
/// TOML text, None where the default applies.
pub fn console_values(path: &Path) -> Result<BTreeMap<String, Option<String>>, ConfigError> {
    let text = read(path)?;
    let doc: DocumentMut = text
        .parse()
        .map_err(|e| ConfigError::Invalid { key: "config", message: format!("the file does not parse: {e}") })?;
    Ok(CONSOLE_KEYS
        .iter()
        .map(|key| {
            let mut item = Some(doc.as_item());
            for part in key.split('.') {
                item = item.and_then(|i| i.get(part));
            }
            let value = item.and_then(Item::as_value).map(|v| v.clone().decorated("", "").to_string());
            (key.to_string(), value)
        })
        .collect())
}

/// The changes that give a file the console values `values` (as
/// `console_values` makes them); keys not in it are left alone.
pub fn changes_to(values: &BTreeMap<String, Option<String>>) -> Result<Vec<Change>, ConfigError> {
    let mut changes = Vec::new();
    let no_smarthost = values.get("delivery.smarthost.address").is_some_and(Option::is_none);
    if no_smarthost {
        changes.push(Change::Remove("delivery.smarthost"));
    }
    for key in CONSOLE_KEYS {
        if no_smarthost && key.starts_with("delivery.smarthost.") {
            continue;
        }
        match values.get(key) {
            None => {}
            Some(None) => changes.push(Change::Remove(key)),
            Some(Some(text)) => {
                let value = text.parse::<Value>().map_err(|e| ConfigError::Invalid {
                    key: "config",
                    message: format!("the cluster's value of {key} ({text}) is not TOML: {e}"),
                })?;
                changes.push(Change::Set(key, value));
            }
        }
    }
    Ok(changes)
}

/// Saves the new text with a backup of the old. Beside the file when its
/// directory is ours (written whole, then renamed); on the appliance only the
/// file itself is the mail service's, so the backup goes to the data
/// directory and the file is rewritten in place and synced.
fn write(path: &Path, data_dir: &Path, old: &str, new: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    match std::fs::write(&tmp, new) {
        Ok(()) => {
            std::fs::write(path.with_extension("toml.bak"), old)?;
            std::fs::rename(&tmp, path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            std::fs::write(data_dir.join("hato.toml.bak"), old)?;
            let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path)?;
            std::io::Write::write_all(&mut f, new.as_bytes())?;
            f.sync_all()
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_refuse_what_would_not_load() {
        let text = "# the mail server\nhostname = \"mx.example\"\n\n[spam]\n# raise with care\njunk_at = 5.0\n";
        let out = apply(
            text,
            &[
                Change::Set("spam.junk_at", 6.5.into()),
                Change::Set("smtp.max_recipients", 50i64.into()),
                Change::Remove("hostname"),
            ],
        )
        .unwrap();
        assert!(
            out.contains("# raise with care")
                && out.contains("junk_at = 6.5")
                && out.contains("[smtp]")
                && !out.contains("mx.example"),
            "{out}"
        );
        let err = apply(text, &[Change::Set("smtp.mx_listen", "nonsense".into())]).unwrap_err();
        assert!(err.to_string().contains("smtp.mx_listen"), "{err}");
        assert!(apply(text, &[Change::Set("spam.junk_at", "high".into())]).is_err(), "wrong type");
        assert!(apply("hostname = [", &[]).is_err());
        let out =
            apply(text, &[Change::Remove("delivery.smarthost"), Change::Remove("limits.max_connections")]).unwrap();
        assert_eq!(out, text, "removing what is not there adds no empty table");
    }

    #[test]
    fn console_values_carry_one_file_s_settings_to_another() {
        let dir = std::env::temp_dir().join(format!("hato-edit-{}", crate::ids::token(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(
            &a,
            "hostname = \"a.example\"\n[spam]\njunk_at = 6.5\ndnsbl = [\"zen.example\"]\n\
             [delivery.smarthost]\naddress = \"relay.example:587\"\nrequire_tls = true\n",
        )
        .unwrap();
        std::fs::write(&b, "# node b\nhostname = \"b.example\"\n[limits]\nmax_connections = 9\n").unwrap();
        let values = console_values(&a).unwrap();
        assert_eq!(values["spam.junk_at"].as_deref(), Some("6.5"));
        assert_eq!(values["limits.max_connections"], None);
        assert!(change_file(&b, &dir, &changes_to(&values).unwrap()).unwrap());
        let got = std::fs::read_to_string(&b).unwrap();
        assert_eq!(console_values(&b).unwrap(), values, "{got}");
        assert!(got.contains("# node b") && got.contains("b.example"), "the node's own lines stay: {got}");
        assert!(!change_file(&b, &dir, &changes_to(&values).unwrap()).unwrap(), "applied twice: no change");
        // The smarthost removed on a: gone from b, without an empty table.
        std::fs::write(&a, "hostname = \"a.example\"\n").unwrap();
        change_file(&b, &dir, &changes_to(&console_values(&a).unwrap()).unwrap()).unwrap();
        let got = std::fs::read_to_string(&b).unwrap();
        assert!(!got.contains("smarthost") && !got.contains("junk_at"), "{got}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
