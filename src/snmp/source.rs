//! Where the subagent's answers come from: the supervisor's board, the
//! health monitor's latest report and the mail server's control socket.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::mib::{self, Inputs};
use super::tree::Tree;
use crate::health::Report;
use crate::supervisor::StatusBoard;

pub struct Source {
    pub board: StatusBoard,
    /// None where no health monitor runs (`hato supervise` off the appliance).
    pub health: Option<watch::Receiver<Option<Report>>>,
    /// `hato serve`'s control socket.
    pub control: Option<PathBuf>,
}

impl Source {
    pub async fn snapshot(&self) -> Tree {
        let services = self.board.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let server = match &self.control {
            Some(path) => {
                let asked = tokio::time::timeout(
                    Duration::from_secs(2),
                    crate::control::call(path, &crate::control::Request::Status),
                )
                .await;
                asked.ok().and_then(|r| r.ok()).and_then(|v| serde_json::from_value(v).ok())
            }
            None => None,
        };
        let health = self.health.as_ref().and_then(|h| h.borrow().clone());
        let snmpd_started = services.iter().find(|s| s.name == "snmpd" && s.state == "running").and_then(|s| s.since);
        mib::build(&Inputs {
            services: &services,
            server: server.as_ref(),
            health: health.as_ref(),
            snmpd_started,
            now: Instant::now(),
            unix_now: crate::clock::now(),
        })
    }
}
