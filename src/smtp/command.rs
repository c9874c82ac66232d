//! SMTP command grammar: one line in, one `Command` out.
//!
//! smtp-proto does the RFC 5321 parsing; this module narrows its output to
//! what Hato supports and turns its errors into reply-ready reasons. No state
//! lives here, which is what makes it the fuzz target.

use smtp_proto::{Error as ProtoError, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: String,
        size: Option<usize>,
        smtputf8: bool,
    },
    Rcpt {
        to: String,
    },
    Data,
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
    /// Commands recognised but not offered (BDAT, ETRN, ...).
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
        Request::Mail { from } => Command::Mail {
            from: from.address.into_owned(),
            size: (from.size > 0).then_some(from.size),
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
        },
        Request::Rcpt { to } => Command::Rcpt { to: to.address.into_owned() },
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
        Request::Bdat { .. } => Command::NotImplemented("BDAT"),
        Request::Etrn { .. } => Command::NotImplemented("ETRN"),
        Request::Atrn { .. } => Command::NotImplemented("ATRN"),
        Request::Burl { .. } => Command::NotImplemented("BURL"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_commands() {
        assert_eq!(parse(b"EHLO client.example\r\n"), Ok(Command::Ehlo("client.example".into())));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME\r\n"),
            Ok(Command::Mail { from: "a@b.c".into(), size: Some(1000), smtputf8: false })
        );
        assert_eq!(
            parse(b"MAIL FROM:<> SMTPUTF8\r\n"),
            Ok(Command::Mail { from: "".into(), size: None, smtputf8: true })
        );
        assert_eq!(parse(b"rcpt to:<X@Y.Z>\r\n"), Ok(Command::Rcpt { to: "X@Y.Z".into() }));
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
            Ok(Command::Rcpt { to: "user@far.example".into() })
        );
        let Ok(Command::Rcpt { to }) = parse(b"RCPT TO:<\"user@far.example\"@local.example>\r\n") else { panic!() };
        assert!(to.matches('@').count() == 2, "quoted @ must survive for the relay check: {to}");
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
