//! Changing the configuration file from the web console: keys are set or
//! removed in place (comments and layout stay, via toml_edit), and the
//! result must load as a valid configuration before anything is written.

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
            if !table.contains_key(p) {
                table.insert(p, Item::Table(toml_edit::Table::new()));
            }
            table = match table.get_mut(p).and_then(Item::as_table_mut) {
                Some(t) => t,
                None => return Err(invalid(format!("{p} is not a table in the file"))),
            };
        }
        match value {
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
/// the old text as a backup.
pub fn change_file(path: &Path, data_dir: &Path, changes: &[Change]) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let new = apply(&text, changes)?;
    write(path, data_dir, &text, &new).map_err(|source| ConfigError::Write { path: path.into(), source })
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
    }
}
