//! Whether the clock is right: chronyd (`supervisor::chrony`) says whether it
//! keeps the clock synchronised, to which server, and how far off it is
//! (`chronyc -c tracking`). A clock not synchronised once chronyd has had
//! time to reach a server is the `clock.unsynchronised` alert.

use serde::Serialize;

use super::Severity;

/// How long after boot chronyd may take before an unsynchronised clock is an
/// alert (it needs seconds when a server answers; this covers slow networks).
const GRACE_SECS: u64 = 600;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Clock {
    pub synchronised: bool,
    /// The server it follows (an address: chronyc is asked with -n).
    pub source: String,
    /// How far the clock is from the server's, in seconds (+: ahead).
    pub offset_secs: f64,
}

/// chronyd's answer now; `None` when it cannot be asked (not running).
pub fn read() -> Option<Clock> {
    let out = super::stdout_of(std::process::Command::new("chronyc").args(["-n", "-c", "tracking"]))?;
    parse(&String::from_utf8_lossy(&out))
}

/// `chronyc -c tracking`: reference id, name, stratum, reference time, system
/// time offset, … and the leap status last.
fn parse(csv: &str) -> Option<Clock> {
    let fields: Vec<&str> = csv.trim().split(',').collect();
    if fields.len() < 14 {
        return None;
    }
    let leap = fields[fields.len() - 1];
    Some(Clock {
        synchronised: leap != "Not synchronised",
        source: fields[1].to_string(),
        offset_secs: fields[4].parse().unwrap_or(0.0),
    })
}

pub fn uptime_secs() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    text.split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The alert an unsynchronised clock raises, past the grace after boot.
pub fn condition(clock: Option<&Clock>, uptime_secs: u64) -> Option<(String, (Severity, String))> {
    let clock = clock?;
    (!clock.synchronised && uptime_secs > GRACE_SECS).then(|| {
        (
            "clock.unsynchronised".into(),
            (
                Severity::Warning,
                "the clock is not synchronised: no NTP server answers (network.toml `ntp`); TLS, DKIM and \
                 logs need the right time"
                    .into(),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // As chronyc 4.3 prints them (Debian bookworm).
    const SYNCED: &str = "0AD58A01,10.213.138.1,3,1764802345.123456789,-0.000012345,0.000004567,0.000010000,\
                          -12.345,0.001,0.050,0.000234567,0.000456789,64.5,Normal\n";
    const UNSYNCED: &str = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,\
                            1.000000000,1.000000000,0.0,Not synchronised\n";

    #[test]
    fn chronyc_tracking_is_read() {
        assert_eq!(
            parse(SYNCED),
            Some(Clock { synchronised: true, source: "10.213.138.1".into(), offset_secs: -0.000012345 })
        );
        assert_eq!(parse(UNSYNCED).map(|c| c.synchronised), Some(false));
        assert_eq!(parse("506 Cannot talk to daemon\n"), None);
    }

    #[test]
    fn an_unsynchronised_clock_is_an_alert_after_the_grace() {
        let unsynced = parse(UNSYNCED);
        assert_eq!(condition(unsynced.as_ref(), 60), None, "chronyd is still reaching its servers");
        assert_eq!(condition(unsynced.as_ref(), 3600).unwrap().0, "clock.unsynchronised");
        assert_eq!(condition(parse(SYNCED).as_ref(), 3600), None);
        assert_eq!(condition(None, 3600), None, "chronyd not running: the supervisor says so");
    }
}
