//! The appliance's local console (the serial line or the screen and
//! keyboard): whoever stands at the machine can see its state and act on its
//! services without a shell. Physical access is already full access to a
//! server, so these commands need no password; nothing here is reachable
//! over the network.
//!
//! Commands, one per line:
//!   status                      redraw the status screen
//!   restart SERVICE             stop it (TERM) and start it again; also
//!                               retries a service that was given up on
//!   signal SERVICE TERM|KILL|HUP|INT
//!                               e.g. KILL a service that hangs
//!   smart                       every disk's SMART data as smartctl reports it
//!   inspect                     mounts, hardening sysctls, processes with
//!                               their users, listening sockets with their
//!                               owners, as the kernel reports them
//!                               (`supervisor::inspect`)
//!   reseed                      apply the seed disk again at the next boot
//!                               (`supervisor::seed`)
//!   watchdog hang               stop feeding the watchdog, as a hung PID 1
//!                               would: the box resets when it fires
//!   raid add DISK               rebuild the degraded data RAID onto a new,
//!                               blank disk (`supervisor::raid`)
//!   poweroff | reboot           orderly shutdown
//!   help

use nix::sys::signal::Signal;

#[derive(Debug, PartialEq)]
pub enum Command {
    Status,
    Smart,
    Inspect,
    Reseed,
    HangWatchdog,
    RaidAdd(String),
    Restart(String),
    Signal(String, Signal),
    PowerOff,
    Reboot,
    Help,
    Nothing,
}

pub const HELP: &str = "commands: status | smart | inspect | reseed | watchdog hang | raid add DISK | restart SERVICE | signal SERVICE TERM|KILL|HUP|INT | \
     poweroff | reboot | help\n";

pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Ok(match words.as_slice() {
        [] => Command::Nothing,
        ["status"] => Command::Status,
        ["smart"] => Command::Smart,
        ["inspect"] => Command::Inspect,
        ["reseed"] => Command::Reseed,
        ["watchdog", "hang"] => Command::HangWatchdog,
        ["raid", "add", disk] => Command::RaidAdd(disk.to_string()),
        ["help"] | ["?"] => Command::Help,
        ["poweroff"] => Command::PowerOff,
        ["reboot"] => Command::Reboot,
        ["restart", service] => Command::Restart(service.to_string()),
        ["signal", service, sig] => {
            let upper = sig.to_ascii_uppercase();
            let signal = match upper.trim_start_matches("SIG") {
                "TERM" => Signal::SIGTERM,
                "KILL" => Signal::SIGKILL,
                "HUP" => Signal::SIGHUP,
                "INT" => Signal::SIGINT,
                other => return Err(format!("unknown signal {other}; use TERM, KILL, HUP or INT")),
            };
            Command::Signal(service.to_string(), signal)
        }
        [cmd, ..] => return Err(format!("unknown or incomplete command `{cmd}`; {}", HELP.trim_end())),
    })
}

/// Reads console lines on a thread of its own (the console is a blocking
/// tty) and hands each parsed command to `handle`; parse errors are shown.
pub fn read_commands(handle: impl Fn(Command) + Send + 'static, show: impl Fn(&str) + Send + 'static) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let Ok(tty) = std::fs::File::open("/dev/console") else { return };
        for line in std::io::BufReader::new(tty).lines() {
            let Ok(line) = line else { return };
            match parse(&line) {
                Ok(Command::Nothing) => {}
                Ok(cmd) => handle(cmd),
                Err(e) => show(&format!("{e}\n")),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_refuses_the_rest_clearly() {
        assert_eq!(parse("  "), Ok(Command::Nothing));
        assert_eq!(parse("status"), Ok(Command::Status));
        assert_eq!(parse("smart"), Ok(Command::Smart));
        assert_eq!(parse("inspect"), Ok(Command::Inspect));
        assert_eq!(parse("reseed"), Ok(Command::Reseed));
        assert_eq!(parse("watchdog hang"), Ok(Command::HangWatchdog));
        assert!(parse("watchdog").is_err());
        assert_eq!(parse("raid add vdd"), Ok(Command::RaidAdd("vdd".into())));
        assert!(parse("raid add").is_err());
        assert_eq!(parse("restart hato"), Ok(Command::Restart("hato".into())));
        assert_eq!(parse("signal hato KILL"), Ok(Command::Signal("hato".into(), Signal::SIGKILL)));
        assert_eq!(parse("signal snmpd sighup"), Ok(Command::Signal("snmpd".into(), Signal::SIGHUP)));
        assert!(parse("signal hato STOP").unwrap_err().contains("unknown signal STOP"));
        assert!(parse("rm -rf /").unwrap_err().contains("unknown or incomplete command `rm`"));
        assert!(parse("restart").is_err());
    }
}
