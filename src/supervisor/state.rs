//! One service's life, as a pure state machine: what to do after it exits.
//! No clocks are read here (times are passed in), so every path is unit-tested.

use std::time::{Duration, Instant};

use super::spec::RestartPolicy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the services it depends on.
    Waiting,
    /// Started; its readiness check has not passed yet.
    Starting,
    Running,
    /// Exited; will be started again at the given instant.
    Backoff,
    /// Failed too often in a row; left stopped, alert raised.
    Failed,
    /// Being stopped at shutdown, or stopped.
    Stopping,
    Stopped,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Backoff => "restarting",
            Phase::Failed => "failed",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    GiveUp,
}

#[derive(Clone, Debug)]
pub struct Tracker {
    pub phase: Phase,
    policy: RestartPolicy,
    started: Option<Instant>,
    /// Fast failures in a row (reset by a run longer than min_uptime).
    pub fast_failures: u32,
    pub restarts: u64,
}

impl Tracker {
    pub fn new(policy: RestartPolicy) -> Tracker {
        Tracker { phase: Phase::Waiting, policy, started: None, fast_failures: 0, restarts: 0 }
    }

    pub fn started(&mut self, now: Instant) {
        self.phase = Phase::Starting;
        self.started = Some(now);
    }

    pub fn ready(&mut self) {
        if self.phase == Phase::Starting {
            self.phase = Phase::Running;
        }
    }

    /// The service exited (or never became ready) at `now`.
    pub fn exited(&mut self, now: Instant) -> Decision {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            self.phase = Phase::Stopped;
            return Decision::GiveUp;
        }
        let ran = self.started.map(|s| now.saturating_duration_since(s)).unwrap_or_default();
        if ran >= Duration::from_secs(self.policy.min_uptime_secs) {
            self.fast_failures = 0;
        }
        self.fast_failures += 1;
        if self.fast_failures >= self.policy.give_up_after {
            self.phase = Phase::Failed;
            return Decision::GiveUp;
        }
        self.phase = Phase::Backoff;
        self.restarts += 1;
        Decision::RestartAfter(self.backoff())
    }

    /// Exponential backoff from the number of fast failures, capped.
    fn backoff(&self) -> Duration {
        let exp = self.fast_failures.saturating_sub(1).min(20);
        let ms = self.policy.initial_backoff_ms.saturating_mul(1u64 << exp).min(self.policy.max_backoff_ms);
        Duration::from_millis(ms)
    }

    pub fn stopping(&mut self) {
        self.phase = match self.phase {
            Phase::Starting | Phase::Running => Phase::Stopping,
            _ => Phase::Stopped,
        };
    }

    /// An admin asks to try a failed service again.
    pub fn reset(&mut self) {
        self.fast_failures = 0;
        self.phase = Phase::Waiting;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            min_uptime_secs: 10,
            give_up_after: 4,
            ready_timeout_secs: 5,
        }
    }

    #[test]
    fn backoff_grows_then_gives_up() {
        let mut t = Tracker::new(policy());
        let t0 = Instant::now();
        t.started(t0);
        t.ready();
        assert_eq!(t.phase, Phase::Running);
        assert_eq!(t.exited(t0 + Duration::from_secs(1)), Decision::RestartAfter(Duration::from_millis(100)));
        assert_eq!(t.phase, Phase::Backoff);
        t.started(t0);
        assert_eq!(t.exited(t0), Decision::RestartAfter(Duration::from_millis(200)));
        t.started(t0);
        assert_eq!(t.exited(t0), Decision::RestartAfter(Duration::from_millis(400)));
        t.started(t0);
        assert_eq!(t.exited(t0), Decision::GiveUp);
        assert_eq!(t.phase, Phase::Failed);
        assert_eq!(t.restarts, 3);
        t.reset();
        assert_eq!(t.phase, Phase::Waiting);
        assert_eq!(t.fast_failures, 0);
    }

    #[test]
    fn a_long_run_forgives_earlier_failures() {
        let mut t = Tracker::new(policy());
        let t0 = Instant::now();
        for _ in 0..3 {
            t.started(t0);
            assert!(matches!(t.exited(t0), Decision::RestartAfter(_)));
        }
        t.started(t0);
        // Ran 60 s: this exit is the first of a new series.
        assert_eq!(t.exited(t0 + Duration::from_secs(60)), Decision::RestartAfter(Duration::from_millis(100)));
    }

    #[test]
    fn backoff_is_capped() {
        let mut p = policy();
        p.give_up_after = 100;
        let mut t = Tracker::new(p);
        let t0 = Instant::now();
        let mut last = Duration::ZERO;
        for _ in 0..30 {
            t.started(t0);
            if let Decision::RestartAfter(d) = t.exited(t0) {
                last = d;
            }
        }
        assert_eq!(last, Duration::from_millis(1000));
    }

    #[test]
    fn exits_during_shutdown_are_not_restarted() {
        let mut t = Tracker::new(policy());
        let t0 = Instant::now();
        t.started(t0);
        t.ready();
        t.stopping();
        assert_eq!(t.phase, Phase::Stopping);
        assert_eq!(t.exited(t0), Decision::GiveUp);
        assert_eq!(t.phase, Phase::Stopped);
        let mut w = Tracker::new(policy());
        w.stopping();
        assert_eq!(w.phase, Phase::Stopped, "a service never started is simply stopped");
    }
}
