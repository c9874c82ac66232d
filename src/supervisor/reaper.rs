//! The one place that waits for children. As PID 1, every orphan on the
//! system becomes our child, so waiting for specific pids is not enough:
//! this thread reaps any child and reports each exit by pid.

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::mpsc::UnboundedSender;

use super::Event;

pub fn spawn(tx: UnboundedSender<Event>) {
    let started = std::thread::Builder::new().name("reaper".into()).spawn(move || {
        loop {
            match waitpid(Pid::from_raw(-1), None) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    let _ = tx.send(Event::Exited { pid: pid.as_raw(), how: format!("exit code {code}") });
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    let _ = tx.send(Event::Exited { pid: pid.as_raw(), how: format!("killed by {sig}") });
                }
                Ok(_) => {}
                // No children right now: nothing to wait for until one is started.
                Err(Errno::ECHILD) => std::thread::sleep(std::time::Duration::from_millis(100)),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!(target: "hato::supervisor", "waitpid failed: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    });
    if let Err(e) = started {
        tracing::error!(target: "hato::supervisor", "cannot start the reaper thread: {e}");
    }
}
