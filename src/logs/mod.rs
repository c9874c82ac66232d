//! Structured logging with levels changeable while the server runs.
//!
//! One line per event; sessions and queue ids travel as span fields so every
//! line of a conversation or a message can be found with one grep. The filter
//! sits behind a reload handle, which the control socket uses to apply
//! `hato ctl log level smtp=debug` without a restart.

pub mod recent;
pub mod rotate;

use std::sync::OnceLock;

use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

#[derive(Debug, Error)]
pub enum LogError {
    #[error("invalid log directive '{0}': use e.g. 'info' or 'smtp=debug,queue=trace'")]
    BadDirective(String),
    #[error("logging is not initialised in this process")]
    NotInitialised,
    #[error("could not apply the new log filter: {0}")]
    Reload(String),
}

static HANDLE: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();
static CURRENT: OnceLock<std::sync::Mutex<String>> = OnceLock::new();

/// Turns the short module names admins type ("smtp=debug") into tracing targets ("hato::smtp=debug").
pub fn expand_directives(spec: &str) -> Result<String, LogError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let expanded = match part.split_once('=') {
            Some((module, level)) if !module.contains("::") && module != "hato" => {
                format!("hato::{module}={level}")
            }
            _ => part.to_string(),
        };
        // Validate each directive on its own so the error names the bad one.
        expanded
            .parse::<tracing_subscriber::filter::Directive>()
            .map_err(|_| LogError::BadDirective(part.to_string()))?;
        out.push(expanded);
    }
    if out.is_empty() {
        return Err(LogError::BadDirective(spec.to_string()));
    }
    Ok(out.join(","))
}

/// Installs the global subscriber writing to stderr. Safe to call once per process.
pub fn init(spec: &str) -> Result<(), LogError> {
    let directives = expand_directives(spec)?;
    let filter = EnvFilter::try_new(&directives).map_err(|_| LogError::BadDirective(spec.into()))?;
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    tracing_subscriber::registry()
        .with(layer)
        .with(fmt.with_target(true))
        .with(recent::Recent)
        .try_init()
        .map_err(|e| LogError::Reload(e.to_string()))?;
    let _ = HANDLE.set(handle);
    let _ = CURRENT.set(std::sync::Mutex::new(directives));
    Ok(())
}

/// Replaces module levels at run time. Directives given for modules already
/// set replace those; others are added; "info" alone resets the default.
pub fn set_level(spec: &str) -> Result<String, LogError> {
    let handle = HANDLE.get().ok_or(LogError::NotInitialised)?;
    let current = CURRENT.get().ok_or(LogError::NotInitialised)?;
    let new = expand_directives(spec)?;
    let mut cur = current.lock().unwrap_or_else(|p| p.into_inner());
    let merged = merge(&cur, &new);
    let filter = EnvFilter::try_new(&merged).map_err(|_| LogError::BadDirective(spec.into()))?;
    handle.reload(filter).map_err(|e| LogError::Reload(e.to_string()))?;
    *cur = merged.clone();
    Ok(merged)
}

pub fn current_level() -> Option<String> {
    CURRENT.get().map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

fn merge(current: &str, new: &str) -> String {
    let key = |d: &str| d.split_once('=').map(|(k, _)| k.to_string());
    let new_parts: Vec<&str> = new.split(',').collect();
    let mut parts: Vec<String> = current
        .split(',')
        .filter(|old| {
            let k = key(old);
            !new_parts.iter().any(|n| key(n) == k)
        })
        .map(String::from)
        .collect();
    parts.extend(new_parts.into_iter().map(String::from));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_short_module_names() {
        assert_eq!(expand_directives("smtp=debug").unwrap(), "hato::smtp=debug");
        assert_eq!(expand_directives("info, queue=trace").unwrap(), "info,hato::queue=trace");
        assert_eq!(expand_directives("hato::store=warn").unwrap(), "hato::store=warn");
        assert!(expand_directives("smtp=loud").is_err());
        assert!(expand_directives("").is_err());
    }

    #[test]
    fn merge_replaces_same_module() {
        assert_eq!(merge("info,hato::smtp=debug", "hato::smtp=warn"), "info,hato::smtp=warn");
        assert_eq!(merge("info", "hato::queue=debug"), "info,hato::queue=debug");
        assert_eq!(merge("info,hato::smtp=debug", "warn"), "hato::smtp=debug,warn");
    }
}
