//! ManageSieve (RFC 5804): users upload, check, list and activate their
//! Sieve scripts (Thunderbird's Sieve add-on, sievelib, sieve-connect).
//! `parse` is the grammar; this file the session. Scripts are compiled
//! before they are stored, so a stored script always runs; errors come back
//! with line and column.

mod parse;

use crate::directory::Login;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::config::Config;
use crate::connection::{ConnError, Connection};
use crate::guard::{Guard, Refusal};
use crate::listener::{self, Door};
use crate::store::{Store, StoreError};
use parse::Word;

pub struct Shared {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub guard: Arc<Guard>,
    pub tls: TlsAcceptor,
}

const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30 * 60);
const MAX_LINE: usize = 8192;
const MAX_ERRORS: u32 = 10;

fn refuse(r: Refusal) -> &'static [u8] {
    match r {
        Refusal::Busy => b"BYE (TRYLATER) \"too many connections; try again later\"\r\n",
        Refusal::TooManyConnections => b"BYE (TRYLATER) \"too many connections from your address\"\r\n",
        Refusal::TooFast => b"BYE (TRYLATER) \"connecting too fast\"\r\n",
    }
}

pub async fn serve(l: TcpListener, sh: Arc<Shared>) {
    let session_sh = sh.clone();
    let door =
        Door::open("managesieve", sh.guard.clone(), None, refuse, move |conn, ip| run(session_sh.clone(), conn, ip));
    listener::serve(l, Arc::new(door)).await;
}

struct Session {
    sh: Arc<Shared>,
    conn: Connection,
    peer: IpAddr,
    user: Option<String>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

async fn run(sh: Arc<Shared>, conn: Connection, peer: IpAddr) {
    let mut s = Session { sh, conn, peer, user: None, errors: 0 };
    s.capabilities();
    s.conn.queue(b"OK \"Hato ManageSieve ready\"\r\n");
    loop {
        if s.conn.flush().await.is_err() {
            return;
        }
        let words = match s.read_command().await {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(ConnError::LineTooLong(_)) => {
                s.no("line too long");
                continue;
            }
            Err(_) => return,
        };
        match s.dispatch(words).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) | Err(_) => {
                let _ = s.conn.flush().await;
                s.conn.shutdown().await;
                return;
            }
        }
        if s.errors >= MAX_ERRORS {
            s.conn.queue(b"BYE \"too many errors\"\r\n");
            let _ = s.conn.flush().await;
            return;
        }
    }
}

impl Session {
    fn timeout(&self) -> Duration {
        if self.user.is_some() { TIMEOUT } else { LOGIN_TIMEOUT }
    }

    fn auth_allowed(&self) -> bool {
        self.conn.is_tls() || self.sh.cfg.sieve.allow_plaintext_auth
    }

    fn capabilities(&mut self) {
        let mut c = String::from("\"IMPLEMENTATION\" \"Hato\"\r\n");
        let mut exts: Vec<&str> = crate::sieve::script::EXTENSIONS.to_vec();
        exts.retain(|e| !e.starts_with("comparator-"));
        c.push_str(&format!("\"SIEVE\" \"{} comparator-i;octet comparator-i;ascii-casemap\"\r\n", exts.join(" ")));
        if self.user.is_none() {
            c.push_str(if self.auth_allowed() { "\"SASL\" \"PLAIN\"\r\n" } else { "\"SASL\" \"\"\r\n" });
            if !self.conn.is_tls() {
                c.push_str("\"STARTTLS\"\r\n");
            }
        } else {
            c.push_str(&format!("\"OWNER\" {}\r\n", parse::string(self.user.as_deref().unwrap_or(""))));
        }
        c.push_str("\"MAXREDIRECTS\" \"5\"\r\n\"VERSION\" \"1.0\"\r\n");
        self.conn.queue(c.as_bytes());
    }

    fn ok(&mut self, text: &str) {
        self.conn.queue(format!("OK {}\r\n", parse::string(text)).as_bytes());
    }

    fn no(&mut self, text: &str) {
        self.errors += 1;
        self.conn.queue(format!("NO {}\r\n", parse::string(text)).as_bytes());
    }

    fn no_code(&mut self, code: &str, text: &str) {
        self.errors += 1;
        self.conn.queue(format!("NO ({code}) {}\r\n", parse::string(text)).as_bytes());
    }

    /// One command, literals included; None when the line was blank or bad (already answered).
    async fn read_command(&mut self) -> Result<Option<Vec<Word>>, ConnError> {
        let mut words = Vec::new();
        loop {
            let line = self.conn.read_line(MAX_LINE, self.timeout()).await?;
            let parsed = match parse::line(&line) {
                Ok(p) => p,
                Err(e) => {
                    self.no(&format!("cannot parse the command: {e}"));
                    return Ok(None);
                }
            };
            words.extend(parsed.words);
            let Some(n) = parsed.literal else { break };
            if n > crate::sieve::MAX_SCRIPT {
                // The client sends it anyway (non-synchronising literal): read and drop it.
                self.read_bytes(n).await?;
                self.no_code("QUOTA/MAXSIZE", &format!("scripts are limited to {} bytes", crate::sieve::MAX_SCRIPT));
                let _ = self.conn.read_line(MAX_LINE, self.timeout()).await?;
                return Ok(None);
            }
            let data = self.read_bytes(n).await?;
            match String::from_utf8(data) {
                Ok(s) => words.push(Word::Str(s)),
                Err(_) => {
                    let _ = self.conn.read_line(MAX_LINE, self.timeout()).await?;
                    self.no("scripts must be UTF-8");
                    return Ok(None);
                }
            }
        }
        Ok(if words.is_empty() { None } else { Some(words) })
    }

    async fn read_bytes(&mut self, n: usize) -> Result<Vec<u8>, ConnError> {
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            let chunk = self.conn.read_bulk(self.timeout()).await?;
            let take = (n - data.len()).min(chunk.len());
            data.extend_from_slice(&chunk[..take]);
            if take < chunk.len() {
                self.conn.unread(&chunk[take..]);
            }
        }
        Ok(data)
    }

    async fn dispatch(&mut self, words: Vec<Word>) -> Result<Flow, ConnError> {
        let name = words[0].text().to_ascii_uppercase();
        let args: Vec<String> = words[1..].iter().map(|w| w.text().to_string()).collect();
        let arg = |i: usize| args.get(i).cloned();
        match (name.as_str(), &self.user) {
            ("LOGOUT", _) => {
                self.ok("bye");
                return Ok(Flow::Close);
            }
            ("NOOP", _) => self.ok("done"),
            ("CAPABILITY", _) => {
                self.capabilities();
                self.ok("done");
            }
            ("STARTTLS", None) if !self.conn.is_tls() => {
                self.ok("begin TLS negotiation now");
                let tls = self.sh.tls.clone();
                self.conn.start_tls(&tls).await?;
                // RFC 5804 §2.2: the capabilities again, now under TLS.
                self.capabilities();
                self.ok("TLS is on");
            }
            ("AUTHENTICATE", None) => return Ok(self.authenticate(args).await),
            (_, None) => self.no("log in first (AUTHENTICATE \"PLAIN\")"),
            (_, Some(user)) => {
                let user = user.clone();
                self.command(&name, &user, arg(0), arg(1)).await;
            }
        }
        Ok(Flow::Continue)
    }

    async fn authenticate(&mut self, args: Vec<String>) -> Flow {
        if !self.auth_allowed() {
            self.no_code("ENCRYPT-NEEDED", "use STARTTLS first");
            return Flow::Continue;
        }
        if !args.first().is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) {
            self.no("only the PLAIN mechanism is offered");
            return Flow::Continue;
        }
        let response = match args.get(1) {
            Some(r) => r.clone(),
            None => {
                self.conn.queue(b"\"\"\r\n");
                if self.conn.flush().await.is_err() {
                    return Flow::Close;
                }
                match self.read_command().await {
                    Ok(Some(w)) => w[0].text().to_string(),
                    _ => return Flow::Close,
                }
            }
        };
        let Ok((user, pass)) = crate::smtp::auth::decode_plain(&response) else {
            self.no("malformed PLAIN response");
            return Flow::Continue;
        };
        let user = user.to_lowercase();
        let check = crate::directory::authenticate(&self.sh.store, &user, &pass);
        match crate::directory::login(&self.sh.store, self.sh.guard.limits(), self.peer, &user, check).await {
            Ok(Login::Locked) => {
                warn!(target: "hato::managesieve", user = %user, "login refused: locked out after repeated failures");
                self.no_code("AUTH-TOO-WEAK", "too many failed logins; try again later");
            }
            Ok(Login::Ok(account)) => {
                info!(target: "hato::managesieve", user = %account, "logged in");
                self.user = Some(account);
                self.ok("logged in");
            }
            Ok(Login::Failed) => {
                warn!(target: "hato::managesieve", user = %user, "authentication failed");
                self.no("authentication failed");
            }
            Err(e) => {
                warn!(target: "hato::managesieve", "authentication lookup failed: {e}");
                self.no_code("TRYLATER", "temporary failure; try again");
            }
        }
        Flow::Continue
    }

    /// Script names: RFC 5804 §1.6 forbids control characters; Hato also keeps them short.
    fn name_ok(&mut self, name: &Option<String>) -> Option<String> {
        match name {
            Some(n) if !n.is_empty() && n.chars().count() <= 128 && !n.chars().any(char::is_control) => Some(n.clone()),
            _ => {
                self.no("a script name (1 to 128 printable characters) is needed");
                None
            }
        }
    }

    fn store_error(&mut self, e: StoreError) {
        match e {
            StoreError::NotFound(what) => self.no_code("NONEXISTENT", &format!("no {what}")),
            StoreError::Invalid(why) if why.contains("active") => self.no_code("ACTIVE", &why),
            StoreError::Invalid(why) => self.no_code("ALREADYEXISTS", &why),
            other => {
                warn!(target: "hato::managesieve", "store error: {other}");
                self.no_code("TRYLATER", "temporary failure; try again");
            }
        }
    }

    async fn command(&mut self, name: &str, user: &str, a: Option<String>, b: Option<String>) {
        let store = self.sh.store.clone();
        let account = user.to_string();
        match name {
            "LISTSCRIPTS" => match store.sieve_list(account).await {
                Ok(list) => {
                    for s in list {
                        let line = format!("{}{}\r\n", parse::string(&s.name), if s.active { " ACTIVE" } else { "" });
                        self.conn.queue(line.as_bytes());
                    }
                    self.ok("listed");
                }
                Err(e) => self.store_error(e),
            },
            "GETSCRIPT" => {
                let Some(n) = self.name_ok(&a) else { return };
                match store.sieve_get(account, n.clone()).await {
                    Ok(Some(text)) => {
                        self.conn.queue(format!("{{{}}}\r\n{text}\r\n", text.len()).as_bytes());
                        self.ok("got it");
                    }
                    Ok(None) => self.no_code("NONEXISTENT", &format!("no script {n}")),
                    Err(e) => self.store_error(e),
                }
            }
            "CHECKSCRIPT" => match a.as_deref().map(crate::sieve::compile) {
                Some(Ok(_)) => self.ok("the script is valid"),
                Some(Err(e)) => self.no(&e.to_string()),
                None => self.no("CHECKSCRIPT needs the script"),
            },
            "PUTSCRIPT" => {
                let Some(n) = self.name_ok(&a) else { return };
                let Some(text) = b else { return self.no("PUTSCRIPT needs a name and the script") };
                if let Err(e) = crate::sieve::compile(&text) {
                    return self.no(&e.to_string());
                }
                let count = store
                    .sieve_list(account.clone())
                    .await
                    .map(|l| l.iter().filter(|s| s.name != n).count())
                    .unwrap_or(0);
                if count >= self.sh.cfg.sieve.max_scripts {
                    return self
                        .no_code("QUOTA/MAXSCRIPTS", &format!("at most {} scripts", self.sh.cfg.sieve.max_scripts));
                }
                match store.sieve_put(account.clone(), n.clone(), text).await {
                    Ok(()) => {
                        info!(target: "hato::managesieve", user = %account, script = %n, "script stored");
                        self.ok("stored");
                    }
                    Err(e) => self.store_error(e),
                }
            }
            "HAVESPACE" => {
                let size: usize = b.as_deref().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
                if self.name_ok(&a).is_none() {
                    return;
                }
                if size > crate::sieve::MAX_SCRIPT {
                    self.no_code(
                        "QUOTA/MAXSIZE",
                        &format!("scripts are limited to {} bytes", crate::sieve::MAX_SCRIPT),
                    );
                } else {
                    self.ok("there is room");
                }
            }
            "SETACTIVE" => {
                let which = a.filter(|n| !n.is_empty());
                match store.sieve_set_active(account.clone(), which.clone()).await {
                    Ok(()) => {
                        info!(target: "hato::managesieve", user = %account, script = ?which, "active script set");
                        self.ok("done");
                    }
                    Err(e) => self.store_error(e),
                }
            }
            "DELETESCRIPT" => {
                let Some(n) = self.name_ok(&a) else { return };
                match store.sieve_delete(account, n).await {
                    Ok(()) => self.ok("deleted"),
                    Err(e) => self.store_error(e),
                }
            }
            "RENAMESCRIPT" => {
                let (Some(from), Some(to)) = (self.name_ok(&a), self.name_ok(&b)) else { return };
                match store.sieve_rename(account, from, to).await {
                    Ok(()) => self.ok("renamed"),
                    Err(e) => self.store_error(e),
                }
            }
            "UNAUTHENTICATE" => {
                self.user = None;
                self.ok("logged out");
            }
            other => self.no(&format!("unknown command {other}")),
        }
    }
}

/// Exercises the ManageSieve line parser for `cargo fuzz` (fuzz/fuzz_targets/managesieve.rs).
#[doc(hidden)]
pub fn fuzz_line(input: &[u8]) {
    let _ = parse::line(input);
    let _ = parse::string(&String::from_utf8_lossy(input));
}
