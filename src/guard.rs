//! Door security shared by every protocol: connection and message rate limits
//! and concurrency caps. (The lockout after failed logins is
//! `crate::directory::login`'s, kept in the store.)
//!
//! Counters are per-process, in memory, over fixed windows: cheap to check on
//! every connection and good enough to stop floods. They reset on restart,
//! which is acceptable for limits measured in minutes; on a cluster each
//! node counts its own connections (a client spread over three nodes gets
//! three times the rate, which stops floods all the same).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cidr::canonical;
use crate::config::LimitsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server as a whole is at its connection limit.
    Busy,
    /// This address already has too many open connections.
    TooManyConnections,
    /// This address connects too fast.
    TooFast,
}

#[derive(Default)]
struct Window {
    start: Option<Instant>,
    count: u32,
}

impl Window {
    /// Counts one event; returns the count within the current window.
    fn hit(&mut self, now: Instant, len: Duration) -> u32 {
        match self.start {
            Some(s) if now.duration_since(s) < len => self.count += 1,
            _ => {
                self.start = Some(now);
                self.count = 1;
            }
        }
        self.count
    }

    fn current(&self, now: Instant, len: Duration) -> u32 {
        match self.start {
            Some(s) if now.duration_since(s) < len => self.count,
            _ => 0,
        }
    }
}

#[derive(Default)]
struct State {
    open: u32,
    open_per_ip: HashMap<IpAddr, u32>,
    connects: HashMap<IpAddr, Window>,
    messages: HashMap<IpAddr, Window>,
}

pub struct Guard {
    cfg: LimitsConfig,
    state: Mutex<State>,
}

/// Held for the life of a connection; frees its slot when dropped.
pub struct Permit {
    guard: Arc<Guard>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.guard.lock();
        st.open = st.open.saturating_sub(1);
        if let Some(n) = st.open_per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.open_per_ip.remove(&self.ip);
            }
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

impl Guard {
    pub fn new(cfg: LimitsConfig) -> Arc<Guard> {
        Arc::new(Guard { cfg, state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.cfg.exempt.iter().any(|c| c.contains(ip))
    }

    /// Admits a new connection or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let ip = canonical(ip);
        let now = Instant::now();
        let exempt = self.exempt(ip);
        let mut st = self.lock();
        if st.open >= self.cfg.max_connections {
            return Err(Refusal::Busy);
        }
        if !exempt {
            // Every attempt counts toward the rate, refused ones included.
            if st.connects.entry(ip).or_default().hit(now, MINUTE) > self.cfg.connections_per_ip_per_minute {
                return Err(Refusal::TooFast);
            }
            if st.open_per_ip.get(&ip).copied().unwrap_or(0) >= self.cfg.max_connections_per_ip {
                return Err(Refusal::TooManyConnections);
            }
        }
        st.open += 1;
        *st.open_per_ip.entry(ip).or_default() += 1;
        if st.connects.len() > 100_000 {
            st.connects.retain(|_, w| w.current(now, MINUTE) > 0);
        }
        drop(st);
        Ok(Permit { guard: self.clone(), ip })
    }

    /// Counts a message from `ip`; false when it is over its per-minute budget.
    pub fn allow_message(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.exempt(ip) {
            return true;
        }
        let now = Instant::now();
        let mut st = self.lock();
        if st.messages.len() > 100_000 {
            st.messages.retain(|_, w| w.current(now, MINUTE) > 0);
        }
        st.messages.entry(ip).or_default().hit(now, MINUTE) <= self.cfg.messages_per_ip_per_minute
    }

    /// The limits, for the login lockout (`crate::directory::login`), which
    /// counts in the store so that it holds on every cluster node.
    pub fn limits(&self) -> &LimitsConfig {
        &self.cfg
    }

    pub fn open_connections(&self) -> u32 {
        self.lock().open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            connections_per_ip_per_minute: 4,
            messages_per_ip_per_minute: 2,
            auth_failures_per_ip: 5,
            auth_failures_per_account: 2,
            auth_lockout_secs: 60,
            auth_slow_after: 20,
            auth_slow_secs: 3,
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    #[test]
    fn connection_limits() {
        let g = Guard::new(limits());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = g.admit(a).unwrap();
        let _p2 = g.admit(a).unwrap();
        assert_eq!(g.admit(a).err(), Some(Refusal::TooManyConnections));
        let _p3 = g.admit(b).unwrap();
        assert_eq!(g.admit(b).err(), Some(Refusal::Busy));
        drop(p1);
        assert_eq!(g.open_connections(), 2);
        // The refused third attempt counted too: the fourth is allowed, the fifth is too fast.
        let p4 = g.admit(a).unwrap();
        drop(p4);
        assert_eq!(g.admit(a).err(), Some(Refusal::TooFast));
    }

    #[test]
    fn message_rate_and_exemption() {
        let g = Guard::new(limits());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(g.allow_message(a));
        assert!(g.allow_message(a));
        assert!(!g.allow_message(a));
        let ex: IpAddr = "10.9.9.9".parse().unwrap();
        for _ in 0..10 {
            assert!(g.allow_message(ex));
        }
    }
}
