//! SMTP command grammar: one line in, one `Command` out.
//!
//! smtp-proto does the RFC 5321 parsing; this module narrows its output to
//! what Hato supports and turns its errors into reply-ready reasons. No state
//! lives here, which is what makes it the fuzz target.

use smtp_proto::{Error as ProtoError, Request};

use crate::store::dsn::{EnvelopeDsn, Notify, RecipientDsn, Ret};

/// RFC 3461 §4.4 and §4.2: the longest ENVID and ORCPT a client may send.
const MAX_ENVID: usize = 100;
const MAX_ORCPT: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: String,
        size: Option<usize>,
        smtputf8: bool,
        dsn: EnvelopeDsn,
    },
    Rcpt {
        to: String,
        dsn: RecipientDsn,
    },
    Data,
    /// RFC 3030 CHUNKING: `size` octets of message follow the command line.
    Bdat {
        size: usize,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    StartTls,
    Auth {
        mechanism: Mechanism,
        initial: Option<String>,
    },
    Vrfy,
    Expn,
    Help,
    /// Commands recognised but not offered (ETRN, ...).
    NotImplemented(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown,
    Syntax(&'static str),
    BadSender,
    BadRecipient,
    BadParameter(String),
    UnsupportedMechanism,
    NotUtf8,
}

impl ParseError {
    /// The reply (code, enhanced status, text) for this error.
    pub fn reply(&self) -> (u16, &'static str, String) {
        match self {
            ParseError::Unknown => (500, "5.5.1", "Command not recognised".into()),
            ParseError::Syntax(s) => (501, "5.5.4", format!("Syntax: {s}")),
            ParseError::BadSender => (501, "5.1.7", "Bad sender address syntax".into()),
            ParseError::BadRecipient => (501, "5.1.3", "Bad recipient address syntax".into()),
            ParseError::BadParameter(p) => (555, "5.5.4", format!("Parameter {p} not recognised or invalid")),
            ParseError::UnsupportedMechanism => {
                (504, "5.5.4", "Unrecognised authentication mechanism; use PLAIN or LOGIN".into())
            }
            ParseError::NotUtf8 => (500, "5.5.2", "Command is not valid UTF-8".into()),
        }
    }
}

/// Parses one command line (with its CRLF or LF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if std::str::from_utf8(line).is_err() {
        return Err(ParseError::NotUtf8);
    }
    // smtp-proto needs the line to end in LF; a peer that sent CR alone gets a syntax error.
    let owned;
    let line = if line.ends_with(b"\n") {
        line
    } else {
        owned = [line, b"\r\n"].concat();
        &owned
    };
    let req = Request::parse(&mut line.iter()).map_err(|e| match e {
        ProtoError::UnknownCommand => ParseError::Unknown,
        ProtoError::InvalidSenderAddress => ParseError::BadSender,
        ProtoError::InvalidRecipientAddress => ParseError::BadRecipient,
        ProtoError::SyntaxError { syntax } => ParseError::Syntax(syntax),
        ProtoError::InvalidParameter { param } => ParseError::BadParameter(param.to_string()),
        ProtoError::UnsupportedParameter { param } => ParseError::BadParameter(param),
        ProtoError::NeedsMoreData { .. } => ParseError::Syntax("command incomplete"),
        _ => ParseError::Unknown,
    })?;
    Ok(match req {
        Request::Ehlo { host } => Command::Ehlo(host.into_owned()),
        Request::Helo { host } => Command::Helo(host.into_owned()),
        Request::Lhlo { .. } => Command::NotImplemented("LHLO"),
        Request::Mail { from } => {
            if from.env_id.as_ref().is_some_and(|e| e.len() > MAX_ENVID) {
                return Err(ParseError::BadParameter("ENVID".into()));
            }
            let ret = match from.flags & (smtp_proto::MAIL_RET_FULL | smtp_proto::MAIL_RET_HDRS) {
                0 => None,
                smtp_proto::MAIL_RET_FULL => Some(Ret::Full),
                smtp_proto::MAIL_RET_HDRS => Some(Ret::Headers),
                _ => return Err(ParseError::BadParameter("RET".into())),
            };
            Command::Mail {
                from: from.address.into_owned(),
                size: (from.size > 0).then_some(from.size),
                smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
                dsn: EnvelopeDsn { ret, envid: from.env_id.map(|e| e.into_owned()) },
            }
        }
        Request::Rcpt { to } => {
            if to.orcpt.as_ref().is_some_and(|o| o.len() > MAX_ORCPT) {
                return Err(ParseError::BadParameter("ORCPT".into()));
            }
            Command::Rcpt {
                to: to.address.into_owned(),
                dsn: RecipientDsn { notify: notify(to.flags)?, orcpt: to.orcpt.map(|o| o.into_owned()) },
            }
        }
        Request::Data => Command::Data,
        Request::Rset => Command::Rset,
        Request::Noop { .. } => Command::Noop,
        Request::Quit => Command::Quit,
        Request::StartTls => Command::StartTls,
        Request::Auth { mechanism, initial_response } => {
            let mechanism = match mechanism {
                smtp_proto::AUTH_PLAIN => Mechanism::Plain,
                smtp_proto::AUTH_LOGIN => Mechanism::Login,
                _ => return Err(ParseError::UnsupportedMechanism),
            };
            let initial = (!initial_response.is_empty()).then(|| initial_response.into_owned());
            Command::Auth { mechanism, initial }
        }
        Request::Vrfy { .. } => Command::Vrfy,
        Request::Expn { .. } => Command::Expn,
        Request::Help { .. } => Command::Help,
        Request::Bdat { chunk_size, is_last } => Command::Bdat { size: chunk_size, last: is_last },
        Request::Etrn { .. } => Command::NotImplemented("ETRN"),
        Request::Atrn { .. } => Command::NotImplemented("ATRN"),
        Request::Burl { .. } => Command::NotImplemented("BURL"),
    })
}

/// NOTIFY from smtp-proto's flags; NEVER with anything else is an error (RFC 3461 §4.1).
fn notify(flags: u64) -> Result<Option<Notify>, ParseError> {
    use smtp_proto::{RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS};
    let n = Notify {
        success: flags & RCPT_NOTIFY_SUCCESS != 0,
        failure: flags & RCPT_NOTIFY_FAILURE != 0,
        delay: flags & RCPT_NOTIFY_DELAY != 0,
    };
    let never = flags & RCPT_NOTIFY_NEVER != 0;
    match (never, n == Notify::NEVER) {
        (true, true) => Ok(Some(Notify::NEVER)),
        (true, false) => Err(ParseError::BadParameter("NOTIFY".into())),
        (false, true) => Ok(None),
        (false, false) => Ok(Some(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_commands() {
        assert_eq!(parse(b"EHLO client.example\r\n"), Ok(Command::Ehlo("client.example".into())));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME\r\n"),
            Ok(Command::Mail { from: "a@b.c".into(), size: Some(1000), smtputf8: false, dsn: EnvelopeDsn::default() })
        );
        assert_eq!(
            parse(b"MAIL FROM:<> SMTPUTF8\r\n"),
            Ok(Command::Mail { from: "".into(), size: None, smtputf8: true, dsn: EnvelopeDsn::default() })
        );
        assert_eq!(
            parse(b"rcpt to:<X@Y.Z>\r\n"),
            Ok(Command::Rcpt { to: "X@Y.Z".into(), dsn: RecipientDsn::default() })
        );
        assert_eq!(parse(b"DATA\r\n"), Ok(Command::Data));
        assert_eq!(parse(b"QUIT\n"), Ok(Command::Quit));
        assert_eq!(
            parse(b"AUTH PLAIN AGFAYg==\r\n"),
            Ok(Command::Auth { mechanism: Mechanism::Plain, initial: Some("AGFAYg==".into()) })
        );
        assert_eq!(parse(b"AUTH LOGIN\r\n"), Ok(Command::Auth { mechanism: Mechanism::Login, initial: None }));
    }

    #[test]
    fn source_routes_are_stripped_and_quotes_kept_visible() {
        // RFC 5321 §4.1.1.3: accept source routes, ignore them; the relay check then sees the real target.
        assert_eq!(
            parse(b"RCPT TO:<@hop.example:user@far.example>\r\n"),
            Ok(Command::Rcpt { to: "user@far.example".into(), dsn: RecipientDsn::default() })
        );
        let Ok(Command::Rcpt { to, .. }) = parse(b"RCPT TO:<\"user@far.example\"@local.example>\r\n") else { panic!() };
        assert!(to.matches('@').count() == 2, "quoted @ must survive for the relay check: {to}");
    }

    #[test]
    fn dsn_parameters_are_kept() {
        let Ok(Command::Mail { dsn, .. }) = parse(b"MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ+2B1\r\n") else { panic!() };
        assert_eq!(dsn, EnvelopeDsn { ret: Some(Ret::Headers), envid: Some("QQ+1".into()) });
        let Ok(Command::Rcpt { dsn, .. }) = parse(b"RCPT TO:<x@y.z> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;X+2Bz@y.z\r\n")
        else {
            panic!()
        };
        assert_eq!(dsn.notify, Some(Notify { success: true, failure: false, delay: true }));
        assert_eq!(dsn.orcpt.as_deref(), Some("X+z@y.z"));
        let Ok(Command::Rcpt { dsn, .. }) = parse(b"RCPT TO:<x@y.z> NOTIFY=NEVER\r\n") else { panic!() };
        assert_eq!(dsn.notify, Some(Notify::NEVER));
        assert!(matches!(parse(b"RCPT TO:<x@y.z> NOTIFY=NEVER,SUCCESS\r\n"), Err(ParseError::BadParameter(_))));
        let long = format!("MAIL FROM:<a@b.c> ENVID={}\r\n", "x".repeat(101));
        assert_eq!(parse(long.as_bytes()), Err(ParseError::BadParameter("ENVID".into())));
    }

    #[test]
    fn bdat_carries_its_size() {
        assert_eq!(parse(b"BDAT 1000\r\n"), Ok(Command::Bdat { size: 1000, last: false }));
        assert_eq!(parse(b"BDAT 0 LAST\r\n"), Ok(Command::Bdat { size: 0, last: true }));
        assert!(parse(b"BDAT x\r\n").is_err());
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(parse(b"FROB\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse(b"AUTH CRAM-MD5\r\n"), Err(ParseError::UnsupportedMechanism));
        assert_eq!(parse(b"MAIL FROM:<a@b.c> SIZE=x\r\n"), Err(ParseError::BadParameter("SIZE".into())));
        assert_eq!(parse(b"\xff\xfe\r\n"), Err(ParseError::NotUtf8));
        assert!(parse(b"MAIL FROM:bogus\r\n").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"\r\n").is_err());
    }
}
