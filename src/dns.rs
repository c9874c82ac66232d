//! The DNS resolver every DNS user shares (MX routing, blocklists, SPF,
//! DKIM, DMARC): the servers of `[delivery] dns_servers`, or the system's
//! resolv.conf when that list is empty. It is mail-auth's authenticator,
//! whose hickory resolver the MX and blocklist lookups use too, so there is
//! one resolver implementation (and one hickory version) and, made once in
//! `serve`, one cache in Hato: hickory keeps answers and "no such record"
//! for their TTL and makes concurrent identical queries once.
//!
//! The inbound side must not wait on DNS: a resolver that answers slowly or
//! not at all once held every SMTP transaction 5–30 s. So every DNS step of
//! one transaction draws on one [`Budget`] (`[smtp] dns_budget_ms`), and
//! each step runs as its own task: when the budget is spent the transaction
//! goes on without the answer (a temperror, no penalty) while the lookup
//! finishes in the background and fills the cache for the next message.
//! A check that ended in a temporary failure, or was not answered within a
//! budget, is remembered for [`FAILURE_TTL`] (see [`Dns::failing`]) — until
//! its lookup ends well — so a dead resolver costs one budget per domain and
//! minute, not one per message. (A lookup that ends well just before the
//! budget's mark is set leaves the mark for the minute: a temperror, never
//! a wrong verdict.)
//! Invariant: no DNS step of an inbound transaction waits past its budget.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};

pub use mail_auth::hickory_resolver::TokioResolver;

/// How long a check that failed temporarily is answered "temperror" without asking again.
pub const FAILURE_TTL: Duration = Duration::from_secs(60);

/// The shortest time "no such record" is kept.
const NEGATIVE_MIN_TTL: Duration = Duration::from_secs(30);

/// A lookup left running after its transaction moved on is given up after this.
const BACKGROUND_LIMIT: Duration = Duration::from_secs(30);

/// The shared resolver and what it remembers of failures. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    auth: MessageAuthenticator,
    /// The servers asked, for the queries made outside hickory's resolver (`crate::dane`).
    servers: Arc<Vec<SocketAddr>>,
    failed: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Dns {
    /// None when there is no resolver configuration at all (no resolv.conf
    /// and no servers configured); callers then defer or skip what needs DNS.
    pub fn new(servers: &[SocketAddr]) -> Option<Dns> {
        let mut asked = servers.to_vec();
        let made = if servers.is_empty() {
            mail_auth::hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string()).and_then(
                |(config, opts)| {
                    asked = config
                        .name_servers()
                        .iter()
                        .map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map_or(53, |c| c.port)))
                        .collect();
                    MessageAuthenticator::new(config, tuned(opts)).map_err(|e| e.to_string())
                },
            )
        } else {
            let name_servers = servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect();
            MessageAuthenticator::new(ResolverConfig::from_name_servers(name_servers), tuned(ResolverOpts::default()))
                .map_err(|e| e.to_string())
        };
        match made {
            Ok(auth) => Some(Dns { auth, servers: Arc::new(asked), failed: Arc::default() }),
            Err(e) => {
                tracing::warn!(target: "hato::dns", "no DNS resolver configuration ({e}); lookups will fail");
                None
            }
        }
    }

    pub fn authenticator(&self) -> &MessageAuthenticator {
        &self.auth
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    pub fn resolver(&self) -> &TokioResolver {
        self.auth.resolver()
    }

    /// Whether the check named `key` failed temporarily within [`FAILURE_TTL`].
    /// When that time is up, one caller is told "no" and asks again — its
    /// outcome decides — while every other caller is still told "yes" for
    /// another [`FAILURE_TTL`]: at most one transaction per check waits.
    pub fn failing(&self, key: &str) -> bool {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Checks nobody has asked about for long are forgotten.
        failed.retain(|_, until| *until + 10 * FAILURE_TTL > now);
        match failed.get_mut(key) {
            Some(until) if *until > now => true,
            Some(until) => {
                *until = now + FAILURE_TTL;
                false
            }
            None => false,
        }
    }

    /// Records how the check named `key` ended: a temporary failure is
    /// remembered, anything else forgets an earlier one.
    pub fn outcome(&self, key: &str, temporary_failure: bool) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if temporary_failure {
            if failed.insert(key.to_string(), Instant::now() + FAILURE_TTL).is_none() {
                tracing::warn!(
                    target: "hato::dns",
                    %key,
                    "DNS lookups failed; this check answers temperror for {} s without asking again",
                    FAILURE_TTL.as_secs()
                );
            }
        } else {
            failed.remove(key);
        }
    }
}

/// A "no such name" without a zone's SOA would otherwise not be cached at
/// all, and be asked again — slowly — for every message.
fn tuned(mut opts: ResolverOpts) -> ResolverOpts {
    opts.negative_min_ttl = Some(NEGATIVE_MIN_TTL);
    opts
}

/// The DNS time one SMTP transaction may still spend.
#[derive(Debug)]
pub struct Budget {
    left: Duration,
}

impl Budget {
    pub fn new(total: Duration) -> Budget {
        Budget { left: total }
    }

    pub fn left(&self) -> Duration {
        self.left
    }

    /// Runs `step` (a DNS-dependent check named `what` for the log) as its
    /// own task and waits for it no longer than the budget left; None when
    /// the budget was spent. The task is not cancelled, and is started even
    /// when nothing is left: what it learns reaches the resolver's cache for
    /// the next message, and it may record its outcome itself.
    pub async fn spend<T: Send + 'static>(
        &mut self,
        what: &str,
        step: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let began = Instant::now();
        let task = tokio::spawn(async move { tokio::time::timeout(BACKGROUND_LIMIT, step).await.ok() });
        if self.left.is_zero() {
            tracing::info!(target: "hato::dns", what, "DNS time budget spent; going on without this check (temperror)");
            return None;
        }
        let out = tokio::time::timeout(self.left, task).await;
        self.left = self.left.saturating_sub(began.elapsed());
        match out {
            Ok(Ok(Some(v))) => Some(v),
            Ok(_) => None,
            Err(_) => {
                self.left = Duration::ZERO;
                tracing::warn!(
                    target: "hato::dns",
                    what,
                    "DNS did not answer within the transaction's time budget; going on without this check (temperror)"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_is_shared_by_the_steps_and_never_waited_past() {
        let mut b = Budget::new(Duration::from_millis(300));
        assert_eq!(b.spend("quick", async { 7 }).await, Some(7));
        let slow = b.spend("slow", async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            1
        });
        assert_eq!(tokio::time::timeout(Duration::from_secs(3), slow).await, Ok(None), "cut at the budget");
        assert!(b.left().is_zero());
        assert_eq!(b.spend("after", async { 2 }).await, None, "nothing left: not waited for");
    }

    #[test]
    fn temporary_failures_are_remembered_until_a_success() {
        let dns = Dns::new(&["127.0.0.1:9".parse().unwrap()]).unwrap();
        assert!(!dns.failing("spf:example.org"));
        dns.outcome("spf:example.org", true);
        assert!(dns.failing("spf:example.org") && !dns.failing("spf:example.net"));
        dns.outcome("spf:example.org", false);
        assert!(!dns.failing("spf:example.org"));
        // When the time is up, one caller asks again; the others still do not.
        dns.failed.lock().unwrap().insert("spf:example.org".into(), Instant::now());
        assert!(!dns.failing("spf:example.org"), "the one that asks");
        assert!(dns.failing("spf:example.org"), "everyone else");
    }
}
