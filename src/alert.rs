//! Alerts: events an administrator must hear about (a degraded array, a
//! service that keeps failing, a disk that stopped taking writes).
//!
//! One way to raise them: `raise` / `clear` log the event (target
//! `hato::alert`, "ALERT …" at error level for warnings and worse) and hand
//! it to whoever subscribed — the SNMP subagent turns each into a trap. The
//! channel buffers, so alerts raised while snmpd is restarting are sent once
//! the subagent is connected again (up to `BUFFER`; older ones are dropped
//! from the trap stream, never from the log).

use std::sync::OnceLock;

use tokio::sync::broadcast;

pub use crate::health::Severity;

const BUFFER: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Stable name of the condition, e.g. `raid.md0.degraded`, `service.hato.failed`.
    pub key: String,
    pub severity: Severity,
    pub text: String,
    /// False when the condition cleared.
    pub raised: bool,
}

fn channel() -> &'static broadcast::Sender<Alert> {
    static CHANNEL: OnceLock<broadcast::Sender<Alert>> = OnceLock::new();
    CHANNEL.get_or_init(|| broadcast::channel(BUFFER).0)
}

/// Every alert from now on.
pub fn subscribe() -> broadcast::Receiver<Alert> {
    channel().subscribe()
}

pub fn raise(key: &str, severity: Severity, text: &str) {
    match severity {
        Severity::Info => tracing::info!(target: "hato::health", condition = %key, "{text}"),
        _ => tracing::error!(target: "hato::alert", condition = %key, severity = ?severity, "ALERT {text}"),
    }
    let _ = channel().send(Alert { key: key.into(), severity, text: text.into(), raised: true });
}

pub fn clear(key: &str) {
    tracing::info!(target: "hato::health", condition = %key, "cleared");
    let _ = channel().send(Alert {
        key: key.into(),
        severity: Severity::Info,
        text: format!("{key} cleared"),
        raised: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_hear_alerts_raised_while_they_were_busy() {
        let mut rx = subscribe();
        raise("test.one", Severity::Critical, "first");
        clear("test.one");
        // Other tests in this binary may raise alerts at the same time.
        let mut mine = Vec::new();
        while mine.len() < 2 {
            let a = rx.recv().await.unwrap();
            if a.key == "test.one" {
                mine.push(a);
            }
        }
        assert_eq!((mine[0].raised, mine[0].severity.clone()), (true, Severity::Critical));
        assert!(!mine[1].raised);
    }
}
