//! A real clamd (Debian's clamav-daemon) on a private socket, loaded with the
//! project's small signature database (tests/clamav/hato-test.ndb: EICAR and a
//! marker string) instead of the downloaded ones.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Clamd {
    pub socket: PathBuf,
    dir: super::TempDir,
    child: Child,
}

impl Clamd {
    pub fn start() -> Clamd {
        let dir = super::temp_dir("clamd");
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clamav/hato-test.ndb"), db.join("hato-test.ndb"))
            .unwrap();
        let socket = dir.join("clamd.sock");
        let conf = dir.join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\nStreamMaxLength 25M\n",
                socket.display(),
                db.display(),
                dir.join("clamd.log").display()
            ),
        )
        .unwrap();
        let child = Command::new("clamd")
            .arg(format!("--config-file={}", conf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clamd (scripts/deps installs clamav-daemon)");
        let c = Clamd { socket, dir, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !c.ping() {
            assert!(
                Instant::now() < deadline,
                "clamd did not answer PING: {}",
                std::fs::read_to_string(c.dir.join("clamd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.socket) else { return false };
        let mut buf = [0u8; 16];
        s.write_all(b"zPING\0").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"PONG"))
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
