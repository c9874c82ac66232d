//! Every command and test of the supported Sieve, and errors with positions.

use super::*;

const MSG: &str = "From: \"Ann Example\" <ann@example.org>\r\nTo: bob@hato.test, carol@hato.test\r\nCc: team@lists.example.org\r\nSubject: =?UTF-8?B?5Lya6K2w44Gu6K2w5LqL6Yyy?= [dev] weekly\r\nList-Id: <dev.lists.example.org>\r\nX-Priority: 1\r\n\r\nThe agenda is attached.\r\nMeeting at noon.\r\n";

fn env() -> Envelope {
    Envelope { from: "bounce@example.org".into(), to: "bob@hato.test".into() }
}

fn actions(script: &str) -> Vec<Action> {
    let s = compile(script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    run(&s, MSG.as_bytes(), &env())
}

fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

fn filed(mailbox: &str) -> Action {
    Action::FileInto { mailbox: mailbox.into(), flags: vec![] }
}

#[test]
fn implicit_keep_and_basic_actions() {
    assert_eq!(actions(""), [keep()]);
    assert_eq!(actions("keep;"), [keep()]);
    assert_eq!(actions("discard;"), [Action::Discard]);
    assert_eq!(actions("require \"fileinto\"; fileinto \"Lists\";"), [filed("Lists")]);
    assert_eq!(actions("require [\"fileinto\", \"copy\"]; fileinto :copy \"Lists\";"), [filed("Lists"), keep()]);
    assert_eq!(actions("redirect \"x@other.example\";"), [Action::Redirect { address: "x@other.example".into() }]);
    assert_eq!(
        actions("require \"copy\"; redirect :copy \"x@other.example\";"),
        [Action::Redirect { address: "x@other.example".into() }, keep()]
    );
}

#[test]
fn tests_of_each_kind() {
    let yes =
        |cond: &str, req: &str| actions(&format!("require [{req}]; if {cond} {{ discard; }}")) == [Action::Discard];
    assert!(yes("header :contains \"subject\" \"議事録\"", "\"fileinto\""), "subjects are decoded");
    assert!(yes("header :is \"X-Priority\" \"1\"", "\"fileinto\""));
    assert!(!yes("header :is \"X-Priority\" \"2\"", "\"fileinto\""));
    assert!(yes("address :domain \"from\" \"example.org\"", "\"fileinto\""));
    assert!(yes("address :localpart :is [\"to\", \"cc\"] \"carol\"", "\"fileinto\""));
    assert!(yes("address :all :matches \"from\" \"*@example.*\"", "\"fileinto\""));
    assert!(yes("envelope :domain :is \"from\" \"example.org\"", "\"envelope\""));
    assert!(yes("envelope :localpart :is \"to\" \"bob\"", "\"envelope\""));
    assert!(yes("exists [\"List-Id\", \"Cc\"]", "\"fileinto\""));
    assert!(!yes("exists [\"List-Id\", \"X-Nope\"]", "\"fileinto\""));
    assert!(yes("size :under 1K", "\"fileinto\"") && !yes("size :over 1K", "\"fileinto\""));
    assert!(yes("allof (true, not false)", "\"fileinto\"") && !yes("allof (true, false)", "\"fileinto\""));
    assert!(yes("anyof (false, true)", "\"fileinto\"") && !yes("anyof (false, false)", "\"fileinto\""));
    assert!(yes("body :text :contains \"agenda\"", "\"body\""));
    assert!(yes("body :raw :contains \"Meeting at noon\"", "\"body\""));
    assert!(yes("header :comparator \"i;octet\" :contains \"subject\" \"[dev]\"", "\"fileinto\""));
    assert!(!yes("header :comparator \"i;octet\" :contains \"subject\" \"[DEV]\"", "\"fileinto\""));
    assert!(yes("header :contains \"subject\" \"[DEV]\"", "\"fileinto\""), "ascii-casemap is the default");
}

#[test]
fn if_elsif_else_and_stop() {
    let s = "require \"fileinto\";
        if header :contains \"subject\" \"nothing\" { fileinto \"A\"; }
        elsif header :contains \"list-id\" \"dev.lists\" { fileinto \"Dev\"; stop; }
        else { fileinto \"C\"; }
        fileinto \"Never\";";
    assert_eq!(actions(s), [filed("Dev")]);
    assert_eq!(actions("require \"fileinto\"; if false { discard; } else { fileinto \"C\"; }"), [filed("C")]);
}

#[test]
fn reject_and_ereject_cancel_everything_else() {
    assert_eq!(
        actions("require \"reject\"; keep; reject \"no thanks\";"),
        [Action::Reject { reason: "no thanks".into() }]
    );
    assert_eq!(
        actions("require \"ereject\"; ereject text:\r\nnot here\r\n.\r\n;"),
        [Action::Reject { reason: "not here\r\n".into() }]
    );
}

#[test]
fn imap4flags() {
    let s = "require [\"imap4flags\", \"fileinto\"]; setflag \"\\\\Seen\"; addflag [\"$Work\", \"\\\\Flagged\"]; removeflag \"\\\\Seen\";
             if hasflag :is \"$work\" { fileinto \"Work\"; } keep :flags \"\\\\Answered\";";
    assert_eq!(
        actions(s),
        [
            Action::FileInto { mailbox: "Work".into(), flags: vec!["$Work".into(), "\\Flagged".into()] },
            Action::Keep { flags: vec!["\\Answered".into()] }
        ]
    );
    assert_eq!(
        actions("require \"imap4flags\"; addflag \"a b\";"),
        [Action::Keep { flags: vec!["a".into(), "b".into()] }]
    );
}

#[test]
fn variables_and_match_groups() {
    let s = "require [\"variables\", \"fileinto\"];
        if header :matches \"list-id\" \"<*.lists.*>\" { set :upperfirst \"list\" \"${1}\"; }
        set \"box\" \"Lists/${list}\";
        if string :is \"${box}\" \"Lists/Dev\" { fileinto \"${box}\"; }";
    assert_eq!(actions(s), [filed("Lists/Dev")]);
    let s = "require \"variables\"; set :length \"n\" \"日本語\"; if string :is \"${n}\" \"3\" { discard; }";
    assert_eq!(actions(s), [Action::Discard]);
    // Without require "variables", ${…} is literal text.
    assert_eq!(actions("require \"fileinto\"; fileinto \"${x}\";"), [filed("${x}")]);
}

#[test]
fn vacation_arguments() {
    let s =
        "require \"vacation\"; vacation :days 3 :subject \"Away\" :addresses [\"bob@alias.test\"] \"Back on Monday.\";";
    let a = actions(s);
    let Action::Vacation(v) = &a[0] else { panic!("{a:?}") };
    assert_eq!((v.days, v.subject.as_deref(), v.reason.as_str()), (3, Some("Away"), "Back on Monday."));
    assert_eq!(v.addresses, ["bob@alias.test"]);
    assert_eq!(a[1], keep(), "vacation keeps the message");
}

#[test]
fn errors_say_where() {
    let err = |s: &str| compile(s).unwrap_err().to_string();
    assert_eq!(err("fileinto \"x\";"), "line 1, column 1: fileinto needs require \"fileinto\"");
    assert_eq!(
        err("require \"fileinto\";\nif true {\n  fileinto;\n}"),
        "line 3, column 3: fileinto: expected a mailbox name (a string)"
    );
    assert_eq!(err("keep"), "line 1, column 1: expected ';' after keep at the end of the script");
    assert_eq!(err("if header :is \"a\" { keep; }"), "line 1, column 4: header: expected a list of keys");
    assert_eq!(err("require \"regex\";"), "line 1, column 1: unsupported extension \"regex\"");
    assert_eq!(err("keep;\nrequire \"fileinto\";"), "line 2, column 1: require must come before any other command");
    assert_eq!(err("else { keep; }"), "line 1, column 1: else without an if before it");
    assert_eq!(err("frobnicate;"), "line 1, column 1: unknown command \"frobnicate\"");
    assert_eq!(
        err("if size :over 1 :under 2 { keep; }"),
        "line 1, column 4: size: only one of :over, :under may be given"
    );
    assert!(err(&"if not ".repeat(100)).contains("nested too deeply"));
}

#[test]
fn hostile_patterns_stay_cheap() {
    let long = "a".repeat(3000);
    let s = format!(
        "require \"variables\"; set \"v\" \"{long}\"; if string :matches \"${{v}}\" \"*a*a*a*a*a*a*a*a*b\" {{ discard; }}"
    );
    assert_eq!(actions(&s), [keep()]);
}

#[test]
fn body_of_a_plain_message() {
    let s = compile("require \"body\"; if body :text :contains \"unsubscribe-me-quietly\" { discard; }").unwrap();
    let raw = "From: <erin@remote.example>\r\nTo: alice@hato.test\r\nSubject: list\r\n\r\nunsubscribe-me-quietly\r\n";
    assert_eq!(run(&s, raw.as_bytes(), &env()), [Action::Discard]);
}
