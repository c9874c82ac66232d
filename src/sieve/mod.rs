//! Hato's own Sieve (RFC 5228) with the extensions fileinto, reject and
//! ereject (RFC 5429), envelope, body (RFC 5173), imap4flags (RFC 5232),
//! variables (RFC 5229), copy (RFC 3894) and vacation (RFC 5230).
//!
//! `lexer` → `parse` (generic grammar) → `script::check` (names, arguments,
//! `require`) gives a `Script`; `interp::run` applies it to a message and
//! envelope and returns actions. Users' scripts run at local delivery
//! (queue), the server's script before queueing (smtp). Every error names
//! the line and column. Managed over ManageSieve (`managesieve`).

pub mod interp;
pub mod lexer;
pub mod parse;
pub mod script;
pub mod server;

pub use interp::{Action, Envelope, run};
pub use script::Script;

/// Largest script accepted (ManageSieve and the config file alike).
pub const MAX_SCRIPT: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct SieveError {
    pub pos: lexer::Pos,
    pub message: String,
}

impl SieveError {
    pub fn at(pos: lexer::Pos, message: &str) -> SieveError {
        SieveError { pos, message: message.to_string() }
    }
}

/// Parses and checks a script.
pub fn compile(text: &str) -> Result<Script, SieveError> {
    if text.len() > MAX_SCRIPT {
        return Err(SieveError::at(
            lexer::Pos { line: 1, col: 1 },
            &format!("the script is larger than {MAX_SCRIPT} bytes"),
        ));
    }
    script::check(&parse::parse(lexer::tokens(text)?)?)
}

/// Exercises the whole of Sieve for `cargo fuzz` (fuzz/fuzz_targets/sieve.rs):
/// the input's first line is used as a message, the rest as a script.
#[doc(hidden)]
pub fn fuzz_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (msg, script) = text.split_once('\n').unwrap_or(("Subject: x\r\n\r\nbody", &text));
    if let Ok(s) = compile(script) {
        let _ = run(&s, msg.as_bytes(), &Envelope { from: "a@b.example".into(), to: "c@d.example".into() });
    }
}

#[cfg(test)]
mod tests;
