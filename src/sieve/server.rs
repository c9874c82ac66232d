//! The server-wide script (`[sieve] server_script`, else
//! `<data_dir>/server.sieve`), applied to every message before it is queued.
//! The web console's rules editor replaces it while the server runs: a new
//! text is compiled first, so a broken script is refused with its line and
//! column and the one in force stays.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::{Script, compile};

pub struct ServerScript {
    path: PathBuf,
    current: RwLock<Option<(String, Arc<Script>)>>,
}

impl ServerScript {
    /// Reads the script at `path`; a missing file at the default place means no script.
    pub fn load(path: PathBuf, required: bool) -> Result<ServerScript, String> {
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let script = compile(&text)
                    .map_err(|e| format!("the server Sieve script {} is invalid: {e}", path.display()))?;
                Some((text, Arc::new(script)))
            }
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot read the server Sieve script {}: {e}", path.display()));
            }
            Err(_) => None,
        };
        Ok(ServerScript { path, current: RwLock::new(current) })
    }

    pub fn get(&self) -> Option<Arc<Script>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, s)| s.clone())
    }

    pub fn text(&self) -> String {
        self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(t, _)| t.clone()).unwrap_or_default()
    }

    /// Checks, saves and puts a new script in force; an empty text removes it.
    pub fn replace(&self, text: &str) -> Result<(), String> {
        if text.trim().is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", self.path.display())),
            }
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
            return Ok(());
        }
        let script = compile(text).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("cannot save {}: {e}", self.path.display()))?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((text.to_string(), Arc::new(script)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_script_is_refused_and_the_old_one_stays() {
        let dir = std::env::temp_dir().join(format!("hato-server-sieve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.sieve");
        let s = ServerScript::load(path.clone(), false).unwrap();
        assert!(s.get().is_none());
        s.replace("require \"reject\";\nif header :contains \"subject\" \"bad\" { reject \"no\"; }\n").unwrap();
        assert!(s.get().is_some() && std::fs::read_to_string(&path).unwrap().contains("reject"));
        let err = s.replace("if true {\n  frobnicate;\n}").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(s.text().contains("reject \"no\""), "the old script stays in force");
        assert!(ServerScript::load(path.clone(), true).is_ok());
        s.replace("").unwrap();
        assert!(s.get().is_none() && !path.exists());
        assert!(ServerScript::load(dir.join("missing.sieve"), true).is_err(), "a configured script must exist");
        std::fs::remove_dir_all(dir).ok();
    }
}
