//! POP3 command grammar (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Auth { mechanism: String, initial: Option<String> },
    Stat,
    List(Option<usize>),
    Retr(usize),
    Dele(usize),
    Top(usize, usize),
    Uidl(Option<usize>),
    Noop,
    Rset,
    Quit,
    Capa,
    Stls,
}

/// Parses one line; the error text goes back to the client after "-ERR ".
pub fn parse(line: &[u8]) -> Result<Command, String> {
    let text = std::str::from_utf8(line).map_err(|_| "command is not valid UTF-8".to_string())?;
    let text = text.trim_end_matches(['\r', '\n']);
    let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
    let args: Vec<&str> = rest.split_whitespace().collect();
    let num = |s: Option<&&str>| -> Result<usize, String> {
        s.ok_or_else(|| "message number missing".to_string())?
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| "message number must be a positive integer".to_string())
    };
    let opt_num =
        |s: Option<&&str>| -> Result<Option<usize>, String> { if s.is_some() { num(s).map(Some) } else { Ok(None) } };
    let no_args =
        |c: Command| if args.is_empty() { Ok(c) } else { Err(format!("{} takes no arguments", verb.to_uppercase())) };
    match verb.to_ascii_uppercase().as_str() {
        "USER" if !rest.trim().is_empty() => Ok(Command::User(rest.trim().to_string())),
        "USER" => Err("USER needs a name".into()),
        // The password is the rest of the line: it may contain spaces.
        "PASS" if !rest.is_empty() => Ok(Command::Pass(rest.to_string())),
        "PASS" => Err("PASS needs a password".into()),
        "AUTH" => match args.as_slice() {
            [m] => Ok(Command::Auth { mechanism: m.to_ascii_uppercase(), initial: None }),
            [m, i] => Ok(Command::Auth { mechanism: m.to_ascii_uppercase(), initial: Some(i.to_string()) }),
            _ => Err("AUTH mechanism [initial-response]".into()),
        },
        "STAT" => no_args(Command::Stat),
        "LIST" => Ok(Command::List(opt_num(args.first())?)),
        "RETR" => Ok(Command::Retr(num(args.first())?)),
        "DELE" => Ok(Command::Dele(num(args.first())?)),
        "TOP" => {
            let n = num(args.first())?;
            let lines = args.get(1).and_then(|l| l.parse::<usize>().ok()).ok_or_else(|| "TOP msg lines".to_string())?;
            Ok(Command::Top(n, lines))
        }
        "UIDL" => Ok(Command::Uidl(opt_num(args.first())?)),
        "NOOP" => no_args(Command::Noop),
        "RSET" => no_args(Command::Rset),
        "QUIT" => no_args(Command::Quit),
        "CAPA" => no_args(Command::Capa),
        "STLS" => no_args(Command::Stls),
        _ => Err("unknown command".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse(b"user alice@x\r\n"), Ok(Command::User("alice@x".into())));
        assert_eq!(parse(b"PASS two words \r\n"), Ok(Command::Pass("two words ".into())));
        assert_eq!(parse(b"LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 3\r\n"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"TOP 2 10\r\n"), Ok(Command::Top(2, 10)));
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg==\r\n"),
            Ok(Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGEAYg==".into()) })
        );
        assert_eq!(parse(b"capa\n"), Ok(Command::Capa));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(b"RETR\r\n").is_err());
        assert!(parse(b"RETR 0\r\n").is_err());
        assert!(parse(b"RETR -1\r\n").is_err());
        assert!(parse(b"RETR 99999999999999999999999\r\n").is_err());
        assert!(parse(b"TOP 1\r\n").is_err());
        assert!(parse(b"STAT now\r\n").is_err());
        assert!(parse(b"FROB\r\n").is_err());
        assert!(parse(b"\xff\r\n").is_err());
        assert!(parse(b"").is_err());
    }
}
