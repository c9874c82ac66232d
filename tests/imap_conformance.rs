//! IMAP as RFC 3501 / 9051 and their extensions say, exchange by exchange:
//! each test writes the commands a client sends and checks the responses the
//! RFC requires (Dovecot's answers where the RFC leaves room).

mod common;

use common::imap::Imap;
use common::*;

fn server(tag: &str) -> (Server, Imap) {
    let s = Server::start(tag, "[imap]\nallow_plaintext_auth = true\n");
    s.populate("hato.test", &["alice"]);
    let c = Imap::login(s.imap, "alice@hato.test", "pw-alice");
    (s, c)
}

/// A message forwarded as an attachment: part 2 is message/rfc822 holding a
/// multipart/alternative message of its own.
const FORWARD: &str = "From: a@x.test\r\nTo: alice@hato.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: text/plain\r\n\r\nsee the forwarded message\r\n\
--outer\r\nContent-Type: message/rfc822\r\n\r\n\
From: c@y.test\r\nSubject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
--inner\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n\
--inner\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>inner =\r\nhtml</p>\r\n\
--inner--\r\n\
--outer--\r\n";

/// Part 1 is message/rfc822 whose message is a single text part.
const FORWARD_SINGLE: &str = "From: a@x.test\r\nSubject: fwd single\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@y.test\r\nSubject: inner\r\n\r\njust text\r\n\
--b--\r\n";

/// RFC 3501 §6.4.5: a message/rfc822 part has numbered parts of its own
/// (2.1, 2.2), its header (2.HEADER) and text (2.TEXT), and each part its
/// MIME header (2.1.MIME); BINARY reaches them the same way (RFC 3516).
#[test]
fn parts_inside_an_attached_message() {
    let (_s, mut c) = server("conf-nested");
    c.append("INBOX", "", FORWARD.as_bytes());
    c.append("INBOX", "", FORWARD_SINGLE.as_bytes());
    c.ok("SELECT INBOX");

    let out = c.ok("FETCH 1 (BODY.PEEK[2.1] BODY.PEEK[2.2] BODY.PEEK[2.1.MIME] BODY.PEEK[2.HEADER])");
    assert!(out.contains("BODY[2.1] {11}\r\ninner plain"), "{out}");
    assert!(out.contains("BODY[2.2] {20}\r\n<p>inner =\r\nhtml</p>"), "{out}");
    assert!(out.contains("BODY[2.1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n"), "{out}");
    assert!(out.contains("BODY[2.HEADER] {") && out.contains("Subject: inner\r\n"), "{out}");
    let out = c.ok("FETCH 1 (BODY.PEEK[2.TEXT])");
    assert!(out.contains("--inner\r\nContent-Type: text/plain"), "{out}");

    let out = c.ok("FETCH 1 (BINARY.PEEK[2.2] BINARY.SIZE[2.2])");
    assert!(out.contains("BINARY[2.2] ~{17}\r\n<p>inner html</p>"), "{out}");
    assert!(out.contains("BINARY.SIZE[2.2] 17"), "{out}");

    // A single-part message inside: its body is part 1 of the attached message.
    let out = c.ok("FETCH 2 (BODY.PEEK[1.1] BODY.PEEK[1.HEADER])");
    assert!(out.contains("BODY[1.1] {9}\r\njust text"), "{out}");
    assert!(out.contains("Subject: inner\r\n"), "{out}");
    let out = c.cmd("FETCH 2 (BODY.PEEK[1.2])");
    assert!(!out.contains("just text"), "1.2 does not exist: {out}");
}

/// Every message has a part 1: a non-multipart message's is its body.
#[test]
fn part_one_of_a_single_part_message() {
    let (_s, mut c) = server("conf-single");
    c.append("INBOX", "", b"From: a@x.test\r\nSubject: plain\r\n\r\nonly body\r\n");
    // APPEND BINARY (RFC 3516): the same message sent as a literal8.
    c.append_binary("INBOX", "", b"From: a@x.test\r\nSubject: binary\r\n\r\nbin\x00body\r\n");
    c.ok("SELECT INBOX");
    let out = c.ok("FETCH 1 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])");
    assert!(out.contains("BODY[1] {11}\r\nonly body\r\n"), "{out}");
    assert!(out.contains("BINARY[1] ~{11}\r\nonly body\r\n"), "{out}");
    assert!(out.contains("BINARY.SIZE[1] 11"), "{out}");
    let out = c.ok("FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[1])");
    assert!(out.contains("BINARY[1] ~{10}\r\nbin\0body\r\n"), "{out}");
    assert!(out.contains("BINARY.SIZE[1] 10"), "{out}");
    // A literal cannot carry NUL (RFC 3501 §4.3): BODY[] sends 0x80 in its place, as Dovecot does.
    assert!(out.contains("BODY[1] {10}\r\nbin\u{fffd}body\r\n"), "{out}");
}

/// RFC 3516 undoes quoted-printable as RFC 2045 §6.7 defines it: a soft line
/// break ("=" at the end of a line, with any whitespace after it) joins
/// lines, and whitespace at the end of an encoded line is not content.
#[test]
fn binary_of_quoted_printable() {
    let (_s, mut c) = server("conf-binary");
    let msg = "From: a@x.test\r\nSubject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=C3=A9 and a long line that is =\r\nbroken softly =  \r\nwith blanks after =\r\nthe equals sign   \r\nend\r\n";
    c.append("INBOX", "", msg.as_bytes());
    c.ok("SELECT INBOX");
    let want = "café and a long line that is broken softly with blanks after the equals sign\r\nend\r\n";
    let out = c.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<0.3>)");
    assert!(out.contains(&format!("BINARY.SIZE[1] {}", want.len())), "{out}");
    assert!(out.contains(&format!("BINARY[1] ~{{{}}}\r\n{want}", want.len())), "{out}");
    assert!(out.contains("BINARY[1]<0> ~{3}\r\ncaf"), "{out}");
}

/// RFC 3501 §7.2.6 / §7.1: the FLAGS and PERMANENTFLAGS a client is told
/// name every keyword in use, at SELECT and as soon as a new one appears.
#[test]
fn keywords_are_announced() {
    let (_s, mut c) = server("conf-keywords");
    c.append("INBOX", "$label2", b"From: a@x.test\r\nSubject: one\r\n\r\none\r\n");
    c.append("INBOX", "", b"From: a@x.test\r\nSubject: two\r\n\r\ntwo\r\n");
    let out = c.ok("SELECT INBOX");
    let flags = out.lines().find(|l| l.starts_with("* FLAGS")).unwrap_or_default().to_string();
    assert!(flags.contains("$label2") && flags.contains("\\Seen"), "{out}");
    let perm = out.lines().find(|l| l.contains("[PERMANENTFLAGS")).unwrap_or_default().to_string();
    assert!(perm.contains("$label2") && perm.contains("\\*"), "{out}");

    let out = c.ok("STORE 2 +FLAGS ($label1)");
    let flags = out.lines().find(|l| l.starts_with("* FLAGS")).unwrap_or_default().to_string();
    assert!(flags.contains("$label1") && flags.contains("$label2"), "a new keyword is announced: {out}");
    assert!(out.contains("[PERMANENTFLAGS (") && out.contains("$label1"), "{out}");
    assert!(out.contains("* 2 FETCH (FLAGS ($label1))"), "{out}");

    // A keyword already announced is not announced again.
    let out = c.ok("STORE 1 +FLAGS ($label1)");
    assert!(!out.contains("* FLAGS"), "{out}");

    // Another session sees the keywords at SELECT.
    let mut other = Imap::login(_s.imap, "alice@hato.test", "pw-alice");
    let out = other.ok("EXAMINE INBOX");
    let flags = out.lines().find(|l| l.starts_with("* FLAGS")).unwrap_or_default().to_string();
    assert!(flags.contains("$label1") && flags.contains("$label2"), "{out}");
}

/// RFC 3501 §6.4.5: FETCH of BODY[] (not PEEK) sets \Seen, and the changed
/// flags come back in the same response; FULL is ALL plus BODY.
#[test]
fn implicit_seen_and_the_full_macro() {
    let (_s, mut c) = server("conf-seen");
    c.append("INBOX", "", b"From: a@x.test\r\nSubject: one\r\n\r\nbody\r\n");
    c.ok("SELECT INBOX");
    let out = c.ok("FETCH 1 (BODY[TEXT])");
    assert!(out.contains("FLAGS (\\Seen") && out.contains("BODY[TEXT] {6}"), "{out}");
    let out = c.ok("FETCH 1 (BODY[TEXT])");
    assert!(!out.contains("FLAGS"), "already seen, nothing changed: {out}");
    let out = c.ok("FETCH 1 FULL");
    assert!(out.contains("ENVELOPE (") && out.contains(" BODY (\"TEXT\" \"PLAIN\""), "{out}");
    assert!(out.contains("INTERNALDATE ") && out.contains("RFC822.SIZE "), "{out}");
}

/// RFC 3501 §7.4.2: a group in an address list is a start marker with its
/// name, the members, and an end marker; SEARCH TO finds the group's name.
#[test]
fn envelope_groups_and_search_by_group_name() {
    let (_s, mut c) = server("conf-groups");
    c.append(
        "INBOX",
        "",
        b"From: a@x.test\r\nTo: friends: b@y.test, C <c@y.test>;, d@z.test\r\nCc: undisclosed-recipients:;\r\nSubject: g\r\n\r\nhi\r\n",
    );
    c.append("INBOX", "", b"From: a@x.test\r\nTo: e@y.test\r\nSubject: other\r\n\r\nhi\r\n");
    c.ok("SELECT INBOX");
    let out = c.ok("FETCH 1 (ENVELOPE)");
    assert!(
        out.contains(
            "((NIL NIL \"friends\" NIL)(NIL NIL \"b\" \"y.test\")(\"C\" NIL \"c\" \"y.test\")(NIL NIL NIL NIL)(NIL NIL \"d\" \"z.test\"))"
        ),
        "{out}"
    );
    assert!(out.contains(" ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "), "{out}");
    let out = c.ok("SEARCH TO friends");
    assert!(out.contains("* SEARCH 1\r\n"), "{out}");
    let out = c.ok("SEARCH CC undisclosed-recipients");
    assert!(out.contains("* SEARCH 1\r\n"), "{out}");
}

/// MOVE (RFC 6851) or COPY into the selected mailbox: the expunged original
/// and the new copy are both reported before the command completes.
#[test]
fn move_into_the_selected_mailbox_reports_the_copy() {
    let (_s, mut c) = server("conf-move");
    c.append("INBOX", "", b"From: a@x.test\r\nSubject: one\r\n\r\none\r\n");
    c.append("INBOX", "", b"From: a@x.test\r\nSubject: two\r\n\r\ntwo\r\n");
    c.ok("SELECT INBOX");
    let out = c.ok("MOVE 1 INBOX");
    assert!(out.contains("* 1 EXPUNGE\r\n") && out.contains("* 2 EXISTS\r\n"), "{out}");
    let out = c.ok("COPY 1 INBOX");
    assert!(out.contains("* 3 EXISTS\r\n"), "{out}");
    let out = c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert_eq!(out.matches("Subject: two").count(), 2, "{out}");
    assert_eq!(out.matches("Subject: one").count(), 1, "{out}");
}

/// A LIST pattern with "&" that is not modified UTF-7 is matched as the
/// characters it is (Dovecot does the same), not refused.
#[test]
fn list_pattern_with_a_bare_ampersand() {
    let (_s, mut c) = server("conf-list-amp");
    c.ok("CREATE \"R&-D\"");
    let out = c.ok("LIST \"\" \"R&D\"");
    assert!(out.contains("* LIST (\\HasNoChildren) \"/\" \"R&-D\""), "{out}");
    let out = c.ok("LIST \"\" \"R&-*\"");
    assert!(out.contains("\"R&-D\""), "{out}");
    let out = c.ok("LIST \"\" \"&Jjo*\"");
    assert!(!out.contains("* LIST"), "{out}");
}

/// RFC 7162 §3.1: the first CONDSTORE-enabling command while a mailbox is
/// selected reports its HIGHESTMODSEQ; with ESEARCH MIN or MAX the MODSEQ is
/// that of the message returned (§3.1.5), not the highest of every match.
#[test]
fn condstore_enabled_by_fetch_and_the_modseq_of_min_and_max() {
    let (_s, mut c) = server("conf-condstore");
    for n in 1..=3 {
        c.append("INBOX", "", format!("From: a@x.test\r\nSubject: {n}\r\n\r\n{n}\r\n").as_bytes());
    }
    c.ok("SELECT INBOX");
    c.ok("STORE 3 +FLAGS (\\Flagged)");
    let out = c.ok("FETCH 1:3 (MODSEQ)");
    assert!(out.contains("* OK [HIGHESTMODSEQ "), "{out}");
    let modseq = |n: usize| -> String {
        let line = out.lines().find(|l| l.starts_with(&format!("* {n} FETCH"))).unwrap_or_default();
        line.split("MODSEQ (").nth(1).unwrap_or_default().split(')').next().unwrap_or_default().to_string()
    };
    let (first, last) = (modseq(1), modseq(3));
    assert!(!first.is_empty() && first != last, "{out}");
    assert!(!c.ok("FETCH 1 (MODSEQ)").contains("HIGHESTMODSEQ"), "only the first time");
    let out = c.ok("SEARCH RETURN (MIN) MODSEQ 1");
    assert!(out.contains(&format!(" MIN 1 MODSEQ {first}\r\n")), "{out}");
    let out = c.ok("SEARCH RETURN (MAX) MODSEQ 1");
    assert!(out.contains(&format!(" MAX 3 MODSEQ {last}\r\n")), "{out}");
}

/// \Recent in an IMAP4rev1 session (RFC 3501 §2.3.2): a message is recent in
/// exactly one session — the first to select the mailbox after it came. So
/// STATUS elsewhere stops counting it, EXAMINE shows it without taking it,
/// and a message arriving while selected is announced with RECENT.
#[test]
fn recent_belongs_to_one_session() {
    let (s, mut a) = server("conf-recent");
    a.append("INBOX", "", b"From: a@x.test\r\nSubject: one\r\n\r\none\r\n");
    a.append("INBOX", "", b"From: a@x.test\r\nSubject: two\r\n\r\ntwo\r\n");
    let mut b = Imap::login(s.imap, "alice@hato.test", "pw-alice");
    let out = b.ok("STATUS INBOX (RECENT MESSAGES)");
    assert!(out.contains("RECENT 2"), "nobody has selected it yet: {out}");
    let out = b.ok("EXAMINE INBOX");
    assert!(out.contains("* 2 RECENT\r\n"), "EXAMINE shows them: {out}");
    let out = a.ok("SELECT INBOX");
    assert!(out.contains("* 2 RECENT\r\n"), "EXAMINE did not take them: {out}");
    let out = b.ok("STATUS INBOX (RECENT)");
    assert!(out.contains("RECENT 0"), "a's now: {out}");
    let out = b.ok("SELECT INBOX");
    assert!(out.contains("* 0 RECENT\r\n"), "a second SELECT finds nothing left to take: {out}");
    let out = b.ok("CLOSE");
    assert!(out.contains("OK"), "{out}");

    deliver(&s, "alice@hato.test", 1);
    let mut seen = String::new();
    for _ in 0..50 {
        seen = a.ok("NOOP");
        if seen.contains("EXISTS") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // All three are recent in this session: the two it took at SELECT and the new one.
    assert!(seen.contains("* 3 EXISTS\r\n") && seen.contains("* 3 RECENT\r\n"), "{seen}");
    let out = a.ok("FETCH 3 (FLAGS)");
    assert!(out.contains("\\Recent"), "{out}");
}

/// RFC 5258 §3: unknown selection or return options, and RECURSIVEMATCH
/// alone, are errors (BAD), not silently ignored.
#[test]
fn list_extended_refuses_what_it_does_not_know() {
    let (_s, mut c) = server("conf-list-ext");
    for bad in
        ["LIST (FROBNICATE) \"\" \"*\"", "LIST (RECURSIVEMATCH) \"\" \"*\"", "LIST \"\" \"*\" RETURN (FROBNICATE)"]
    {
        let out = c.cmd(bad);
        assert!(out.lines().last().unwrap_or_default().contains(" BAD "), "{bad} → {out}");
    }
    let out = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\" RETURN (CHILDREN)");
    assert!(out.lines().last().unwrap_or_default().contains(" OK "), "{out}");
}

/// A subscribed "Work/2026" under an unsubscribed "Work": LSUB "%" names
/// Work as \Noselect (RFC 3501 §6.3.9), and LIST (SUBSCRIBED RECURSIVEMATCH)
/// names it with CHILDINFO ("SUBSCRIBED") (RFC 5258 §3.5).
#[test]
fn subscribed_children_show_their_parent() {
    let (_s, mut c) = server("conf-lsub");
    c.ok("CREATE Work/2026");
    c.ok("SUBSCRIBE Work/2026");
    let out = c.ok("LSUB \"\" \"%\"");
    assert!(out.contains("* LSUB (\\Noselect) \"/\" \"Work\"\r\n"), "{out}");
    assert!(!out.contains("Work/2026"), "{out}");
    let out = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"");
    assert!(out.contains("* LIST () \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"), "{out}");
    let out = c.ok("LIST (SUBSCRIBED) \"\" \"%\"");
    assert!(!out.contains("Work"), "without RECURSIVEMATCH the parent is not named: {out}");
    let out = c.ok("LSUB \"\" \"*\"");
    assert!(out.contains("\"Work/2026\"") && !out.contains("\"Work\"\r\n"), "{out}");
}

/// RFC 5256 §2.2 step 5: a reply whose parent is not in the mailbox joins
/// the message with its base subject that is not a reply, as its child.
#[test]
fn thread_references_joins_a_reply_by_subject() {
    let (_s, mut c) = server("conf-thread");
    c.append(
        "INBOX",
        "",
        b"From: a@x.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nSubject: Lunch\r\nMessage-ID: <a@x>\r\n\r\n?\r\n",
    );
    c.append(
        "INBOX",
        "",
        b"From: b@x.test\r\nDate: Mon, 1 Jun 2026 11:00:00 +0000\r\nSubject: Re: lunch\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <gone@x>\r\n\r\nyes\r\n",
    );
    c.append(
        "INBOX",
        "",
        b"From: c@x.test\r\nDate: Mon, 1 Jun 2026 12:00:00 +0000\r\nSubject: other\r\nMessage-ID: <c@x>\r\n\r\n.\r\n",
    );
    c.ok("SELECT INBOX");
    let out = c.ok("THREAD REFERENCES UTF-8 ALL");
    assert!(out.contains("* THREAD (1 2)(3)\r\n"), "{out}");
}

/// ESORT (RFC 5267): SORT RETURN answers with ESEARCH — MIN and MAX the
/// first and last in sort order, ALL in sort order, COUNT.
#[test]
fn esort_returns_in_sort_order() {
    let (_s, mut c) = server("conf-esort");
    for subject in ["b", "c", "a"] {
        c.append("INBOX", "", format!("From: x@x.test\r\nSubject: {subject}\r\n\r\n.\r\n").as_bytes());
    }
    c.ok("SELECT INBOX");
    let out = c.ok("CAPABILITY");
    assert!(out.contains(" ESORT"), "{out}");
    let out = c.ok("SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL");
    assert!(out.starts_with("* ESEARCH (TAG \"") && out.contains("\") MIN 3 MAX 2 ALL 3,1:2 COUNT 3\r\n"), "{out}");
    let out = c.ok("SORT (SUBJECT) UTF-8 ALL");
    assert!(out.contains("* SORT 3 1 2\r\n"), "without RETURN, a plain SORT: {out}");
}

/// SORT (RFC 5256) compares with i;ascii-casemap: a–z fold to A–Z, so "_"
/// and "[" come after every letter. FROM/TO/CC take the addr-mailbox of the
/// first address — for a group, the group's name (its start marker);
/// DISPLAYTO (RFC 5957) the display name when not empty, else mailbox@host.
#[test]
fn sort_keys_as_the_rfcs_define_them() {
    let (_s, mut c) = server("conf-sortkeys");
    let messages = [
        "Subject: a\r\nTo: c@x.test\r\nCc: zed@x.test\r\n",
        "Subject: C\r\nTo: team: y@x.test;\r\nCc: _x@x.test\r\n",
        "Subject: b\r\nTo: \"Quinn\" <a@x.test>\r\nCc: Abe <abe@x.test>\r\n",
        "Subject: _\r\n",
        "Subject: [xyz]\r\nTo: undisclosed-recipients:;\r\n",
        "To: \"\" <b@x.test>\r\n",
    ];
    for headers in messages {
        c.append("INBOX", "", format!("From: f@x.test\r\n{headers}\r\nbody\r\n").as_bytes());
    }
    c.ok("SELECT INBOX");
    let sort = |c: &mut Imap, criteria: &str| {
        let out = c.ok(&format!("SORT ({criteria}) UTF-8 ALL"));
        out.lines().find_map(|l| l.strip_prefix("* SORT ")).unwrap_or_default().trim().to_string()
    };
    assert_eq!(sort(&mut c, "SUBJECT"), "6 1 3 2 5 4", "base subjects \"\" A B C [XYZ] _");
    assert_eq!(sort(&mut c, "REVERSE SUBJECT"), "4 5 2 3 1 6");
    assert_eq!(sort(&mut c, "CC"), "4 5 6 3 1 2", "no Cc, then ABE ZED _X");
    assert_eq!(sort(&mut c, "TO"), "4 3 6 1 2 5", "no To, then A B C TEAM UNDISCLOSED-RECIPIENTS");
    assert_eq!(sort(&mut c, "DISPLAYTO"), "4 6 1 3 2 5", "\"\", B@X.TEST, C@X.TEST, QUINN, TEAM, UNDISCLOSED…");
}

/// MULTIAPPEND (RFC 3502): the messages of one APPEND are stored together or
/// not at all — here the second would pass the quota, so neither is kept;
/// a malformed later message gets BAD and nothing is stored.
#[test]
fn multiappend_is_all_or_nothing() {
    let (s, mut c) = server("conf-multiappend");
    s.ok(&["account", "quota", "alice@hato.test", "1"]);
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(600 * 1024));
    let one = "Subject: one\r\n\r\n1\r\n";
    let (one, big) = (one.as_bytes(), big.as_bytes());
    let out = c.cmd_literals("APPEND INBOX", &[("", one), ("", big), ("", big)]);
    assert!(out.contains(" NO ") && out.to_lowercase().contains("quota"), "{out}");
    let out = c.cmd_literals("APPEND INBOX", &[("", one), (" (\\Seen", one)]);
    assert!(out.contains(" BAD ") && out.contains("message 2"), "{out}");
    let out = c.ok("STATUS INBOX (MESSAGES)");
    assert!(out.contains("(MESSAGES 0)"), "nothing kept: {out}");

    let out = c.cmd_literals("APPEND INBOX", &[("", one), (" (\\Seen) \"01-Feb-2024 10:00:00 +0000\"", big)]);
    assert!(out.contains(" OK [APPENDUID ") && out.contains(" 1:2] "), "{out}");
    c.ok("SELECT INBOX");
    let out = c.ok("FETCH 2 (FLAGS INTERNALDATE)");
    assert!(out.contains("\\Seen") && out.contains("01-Feb-2024 10:00:00 +0000"), "{out}");
}

/// LIST with a pattern ending in "%" names the levels of hierarchy that are
/// not mailboxes themselves, as not selectable (RFC 3501/9051 §6.3.9):
/// \Noselect for IMAP4rev1, \NonExistent (RFC 5258) under LIST-EXTENDED.
/// "*" does not ask for them. A CHILDINFO-only entry answers RETURN (CHILDREN).
#[test]
fn list_names_levels_that_are_not_mailboxes() {
    let (_s, mut c) = server("conf-levels");
    for m in ["m/test1", "m/test2/", "m/test2/test1", "m/test4/test5", "m/test8/test8"] {
        c.ok(&format!("CREATE {m}"));
    }
    c.ok("SUBSCRIBE m/test2/test1");

    let out = c.ok("LIST \"\" %");
    assert!(out.contains("* LIST (\\Noselect \\HasChildren) \"/\" \"m\"\r\n"), "{out}");
    assert!(out.contains("\"INBOX\""), "{out}");
    let out = c.ok("LIST \"\" m/% RETURN (CHILDREN)");
    assert!(out.contains("* LIST (\\NonExistent \\HasChildren) \"/\" \"m/test4\"\r\n"), "{out}");
    assert!(out.contains("* LIST (\\NonExistent \\HasChildren) \"/\" \"m/test8\"\r\n"), "{out}");
    assert!(out.contains("* LIST (\\HasChildren) \"/\" \"m/test2\"\r\n"), "a real mailbox as it is: {out}");
    assert!(!out.contains("\"m/test4/test5\""), "% stops at one level: {out}");
    let out = c.ok("LIST \"\" *");
    assert!(!out.contains("\"m\"\r\n") && !out.contains("\"m/test4\"\r\n"), "{out}");

    let out = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" m/test2% RETURN (CHILDREN)");
    assert!(out.contains("* LIST (\\HasChildren) \"/\" \"m/test2\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"), "{out}");
}

/// Subscriptions outlive their mailbox (RFC 3501 §6.3.6: a server must not
/// drop a subscribed name by itself): LIST (SUBSCRIBED) shows it
/// \NonExistent, LSUB \Noselect, until UNSUBSCRIBE. RENAME takes the
/// mailbox's inferiors and their subscriptions with it (§6.3.5).
#[test]
fn subscriptions_outlive_mailboxes_and_follow_renames() {
    let (_s, mut c) = server("conf-subscriptions");
    for m in ["m/a", "m/b", "m/b/c"] {
        c.ok(&format!("CREATE {m}"));
    }
    c.ok("SUBSCRIBE m/a");
    c.ok("SUBSCRIBE m/b/c");
    c.ok("DELETE m/a");
    let out = c.ok("LIST (SUBSCRIBED) \"\" m/*");
    assert!(out.contains("* LIST (\\NonExistent \\Subscribed) \"/\" \"m/a\"\r\n"), "{out}");
    let out = c.ok("LSUB \"\" m/*");
    assert!(out.contains("* LSUB (\\Noselect) \"/\" \"m/a\"\r\n"), "{out}");
    c.ok("UNSUBSCRIBE m/a");
    let out = c.ok("LSUB \"\" m/*");
    assert!(!out.contains("\"m/a\""), "{out}");

    c.ok("RENAME m/b m/z");
    let out = c.ok("LIST \"\" m/*");
    assert!(out.contains("\"m/z\"\r\n") && out.contains("\"m/z/c\"\r\n") && !out.contains("\"m/b"), "{out}");
    let out = c.ok("LSUB \"\" m/*");
    assert!(out.contains("\"m/z/c\"\r\n") && !out.contains("m/b/c"), "{out}");
    let out = c.cmd("SUBSCRIBE m/nothing");
    assert!(out.contains(" NO "), "subscribing needs the mailbox: {out}");
}

/// The ESEARCH line of the search tagged `tag` in `out`.
fn esearch_of<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(&format!("* ESEARCH (TAG \"{tag}\")"))).collect()
}

/// CONTEXT=SEARCH (RFC 5267): PARTIAL returns positions of the result, and
/// RETURN (UPDATE) keeps the result up to date — ADDTO and REMOVEFROM as
/// flags change, messages arrive (through another session) and are expunged,
/// a removal told before the EXPUNGE that renumbers — until CANCELUPDATE.
#[test]
fn search_context_partial_and_updates() {
    let (s, mut c) = server("conf-context-search");
    for i in 1..=6 {
        c.append("INBOX", "", format!("From: x@x.test\r\nSubject: m{i}\r\n\r\nhello\r\n").as_bytes());
    }
    c.ok("SELECT INBOX");
    assert!(c.ok("CAPABILITY").contains(" CONTEXT=SEARCH"));
    for (range, answer) in [("2:4", "(2:4 2:4)"), ("4:2", "(2:4 2:4)"), ("1:9", "(1:9 1:6)"), ("7:9", "(7:9 NIL)")] {
        let out = c.ok(&format!("SEARCH RETURN (PARTIAL {range}) ALL"));
        assert!(out.contains(&format!("\") PARTIAL {answer}\r\n")), "{range}: {out}");
    }
    for bad in ["PARTIAL 1", "PARTIAL 1:*", "PARTIAL *:1", "PARTIAL 0:2"] {
        let out = c.cmd(&format!("SEARCH RETURN ({bad}) ALL"));
        assert!(out.lines().last().unwrap().contains(" BAD "), "{bad}: {out}");
    }

    let out = c.ok("SEARCH RETURN (UPDATE) BODY hello SEEN");
    let tag = out.lines().last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\")")], "{out}");
    let out = c.ok("STORE 1,2,5 +FLAGS (\\Seen)");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") ADDTO (0 1:2,5)")], "{out}");
    let out = c.ok("STORE 1,2 -FLAGS (\\Seen)");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") REMOVEFROM (0 1:2)")], "{out}");
    c.ok("STORE 3:6 +FLAGS.SILENT (\\Deleted)");
    let out = c.ok("EXPUNGE");
    let removal = out.find(&format!("* ESEARCH (TAG \"{tag}\") REMOVEFROM (0 5)\r\n")).expect(&out);
    assert!(removal < out.find("* 5 EXPUNGE").expect(&out), "told before the renumbering: {out}");

    // Another session files a seen message that matches: the next NOOP says so.
    let mut other = Imap::login(s.imap, "alice@hato.test", "pw-alice");
    other.append("INBOX", "\\Seen", b"From: y@x.test\r\nSubject: late\r\n\r\nhello again\r\n");
    other.append("INBOX", "\\Seen", b"From: y@x.test\r\nSubject: other\r\n\r\nno greeting\r\n");
    let out = c.ok("NOOP");
    assert!(out.contains("* 4 EXISTS"), "{out}");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") ADDTO (0 3)")], "{out}");

    c.ok(&format!("CANCELUPDATE \"{tag}\""));
    let out = c.ok("STORE 1 +FLAGS (\\Seen)");
    assert!(esearch_of(&out, &tag).is_empty(), "no updates after CANCELUPDATE: {out}");

    // A UID search's updates name UIDs (messages 1, 2 are UIDs 1, 2; 3 is 7).
    let out = c.ok("UID SEARCH RETURN (UPDATE ALL) UNSEEN");
    let tag = out.lines().last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") UID ALL 2")], "{out}");
    let out = c.ok("STORE 1,3 -FLAGS (\\Seen)");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") UID ADDTO (0 1,7)")], "{out}");
    c.ok("UNSELECT");
    assert!(c.cmd(&format!("CANCELUPDATE \"{tag}\"")).lines().last().unwrap().contains(" BAD "));
}

/// CONTEXT=SORT (RFC 5267): PARTIAL in sort order, and updates that name
/// positions in the sorted result, to be applied in the order given.
#[test]
fn sort_context_partial_and_updates() {
    let (_s, mut c) = server("conf-context-sort");
    for subject in ["c", "a", "d", "b"] {
        c.append("INBOX", "", format!("From: x@x.test\r\nSubject: {subject}\r\n\r\n.\r\n").as_bytes());
    }
    c.ok("SELECT INBOX");
    assert!(c.ok("CAPABILITY").contains(" CONTEXT=SORT"));
    let out = c.ok("SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL");
    assert!(out.contains("\") PARTIAL (1:2 2,4)\r\n"), "{out}");
    let out = c.ok("SORT RETURN (PARTIAL 2:9 COUNT) (REVERSE SUBJECT) UTF-8 ALL");
    assert!(out.contains("\") PARTIAL (2:9 1,4,2) COUNT 4\r\n"), "{out}");

    // Sorted a(2) b(4) c(1) d(3), all unseen.
    let out = c.ok("UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN");
    let tag = out.lines().last().unwrap().split(' ').next().unwrap().to_string();
    let out = c.ok("STORE 2 +FLAGS (\\Seen)");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") UID REMOVEFROM (1 2)")], "{out}");
    // A new message "bb" goes between b and c: second place.
    let out = c.append("INBOX", "", b"From: x@x.test\r\nSubject: bb\r\n\r\n.\r\n");
    let out = out + &c.ok("NOOP");
    assert_eq!(esearch_of(&out, &tag), [format!("* ESEARCH (TAG \"{tag}\") UID ADDTO (2 5)")], "{out}");
    // b bb c d → a b bb d: c (third) leaves, a comes first.
    let out = c.ok("STORE 1:2 FLAGS (\\Seen)");
    let out = out + &c.ok("STORE 2 -FLAGS (\\Seen)");
    let told: Vec<&str> = esearch_of(&out, &tag);
    assert_eq!(
        told,
        [
            format!("* ESEARCH (TAG \"{tag}\") UID REMOVEFROM (3 1)"),
            format!("* ESEARCH (TAG \"{tag}\") UID ADDTO (1 2)")
        ],
        "{out}"
    );
}

/// CATENATE (RFC 4469): a message built from pieces sent (TEXT) and pieces
/// of stored messages named by IMAP URLs (RFC 5092: whole, HEADER, TEXT, a
/// part, a PARTIAL range). A URL that names nothing, or a mailbox whose
/// UIDVALIDITY is not the URL's, refuses the APPEND with BADURL and stores
/// nothing; a missing target mailbox is TRYCREATE whatever the URLs say.
#[test]
fn catenate_builds_messages_from_text_and_urls() {
    let (_s, mut c) = server("conf-catenate");
    assert!(c.ok("CAPABILITY").contains(" CATENATE"));
    let one = b"From: foo@example.com\r\n\r\nHello world body\r\n";
    let two = b"From: foo2@example.com\r\n\r\nLookslike: header\r\n\r\nAnother body\r\n";
    let out = c.cmd_literals_then("APPEND INBOX (\\Seen \\Flagged) CATENATE (TEXT", &[("", one)], ")");
    assert!(out.contains("OK [APPENDUID "), "{out}");
    c.cmd_literals_then("APPEND INBOX CATENATE (TEXT", &[("", two)], ")");
    let out = c.ok("SELECT INBOX");
    let validity = out.split("[UIDVALIDITY ").nth(1).and_then(|r| r.split(']').next()).unwrap().to_string();
    let out = c.ok("FETCH 1:2 (FLAGS BODY.PEEK[])");
    assert!(out.contains("* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent)"), "{out}");
    assert!(out.contains(&format!("BODY[] {{{}}}\r\n{}", one.len(), String::from_utf8_lossy(one))), "{out}");
    c.ok("CREATE Box2");

    let url = |rest: &str| format!("URL \"/INBOX/;UID={rest}\"");
    let between = format!(" {} TEXT", url("1/;SECTION=1"));
    // Each APPEND as the text before its literals, the literals, and what follows them.
    type Append<'a> = (String, Vec<(&'a str, &'a [u8])>, &'a str);
    let appends: Vec<Append> = vec![
        (format!("CATENATE ({}", url("1/;SECTION=HEADER")), vec![(" TEXT", b"body1\r\n")], ")"),
        (
            format!("CATENATE (URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=header\""),
            vec![(" TEXT", b"body2\r\n")],
            ")",
        ),
        (format!("CATENATE ({}", url("2/;SECTION=TEXT")), vec![(" TEXT", b"body3\r\n")], ")"),
        (format!("CATENATE ({}", url("2/;SECTION=1")), vec![(" TEXT", b"body4\r\n")], ")"),
        (
            "CATENATE (TEXT".into(),
            vec![("", b"From: new@example.com\r\nSubject: test header\r\n\r\n"), (&between, b"suffix\r\n")],
            ")",
        ),
        (format!("CATENATE ({}", url("2/;PARTIAL=100000.1")), vec![(" TEXT", b"Hdr: foo\r\n\r\nbody7\r\n")], ")"),
    ];
    for (command, parts, tail) in &appends {
        let out = c.cmd_literals_then(&format!("APPEND Box2 {command}"), parts, tail);
        assert!(out.lines().last().unwrap().contains(" OK [APPENDUID "), "{command}: {out}");
    }
    // A whole message by URL, beside a whole message sent (MULTIAPPEND).
    let out = c.cmd_literals(&format!("APPEND Box2 CATENATE ({}) (\\Seen)", url("2")), &[("", b"plain\r\n")]);
    assert!(out.lines().last().unwrap().contains(" OK [APPENDUID "), "{out}");

    let refused = [
        "CATENATE (URL \"/INBOX;UIDVALIDITY=12345/;UID=1/;SECTION=HEADER\"".to_string(),
        format!("CATENATE ({}", url("99")),
        "CATENATE (URL \"/Nowhere/;UID=1\"".to_string(),
        "CATENATE (URL \"/INBOX\"".to_string(),
    ];
    for command in &refused {
        let out = c.cmd_literals_then(&format!("APPEND Box2 {command}"), &[(" TEXT", b"x\r\n")], ")");
        assert!(out.lines().last().unwrap().contains(" NO [BADURL \"/"), "{command}: {out}");
    }
    let out = c.cmd_literals_then(
        "APPEND Nonexistent CATENATE (URL \"/INBOX;UIDVALIDITY=12345/;UID=1\"",
        &[(" TEXT", b"x\r\n")],
        ")",
    );
    assert!(out.lines().last().unwrap().contains(" NO [TRYCREATE]"), "{out}");

    c.ok("SELECT Box2");
    let out = c.ok("FETCH 1:* BODY.PEEK[]");
    let expect: [&[u8]; 8] = [
        b"From: foo@example.com\r\n\r\nbody1\r\n",
        b"From: foo@example.com\r\n\r\nbody2\r\n",
        b"Lookslike: header\r\n\r\nAnother body\r\nbody3\r\n",
        b"Lookslike: header\r\n\r\nAnother body\r\nbody4\r\n",
        b"From: new@example.com\r\nSubject: test header\r\n\r\nHello world body\r\nsuffix\r\n",
        b"Hdr: foo\r\n\r\nbody7\r\n",
        two,
        b"plain\r\n",
    ];
    for (i, e) in expect.iter().enumerate() {
        let want = format!("* {} FETCH (BODY[] {{{}}}\r\n{}", i + 1, e.len(), String::from_utf8_lossy(e));
        assert!(out.contains(&want), "message {}: {out}", i + 1);
    }
    assert!(!out.contains("* 9 FETCH"), "nothing of the refused APPENDs was stored: {out}");
}

/// NOTIFY (RFC 5465): SET STATUS first tells each mailbox's state; then,
/// with no command running, the client hears of new mail and expunges in the
/// selected mailbox (with the FETCH attributes it asked for), of other
/// mailboxes by STATUS, and of names and subscriptions by LIST. Events Hato
/// does not report are BADEVENT; MessageNew without MessageExpunge is BAD.
#[test]
fn notify_tells_changes_without_being_asked() {
    let (s, mut c) = server("conf-notify");
    let mut other = Imap::login(s.imap, "alice@hato.test", "pw-alice");
    assert!(c.ok("CAPABILITY").contains(" NOTIFY"));
    c.ok("CREATE Box2");
    c.append("Box2", "", b"Subject: one\r\n\r\n1\r\n");
    let validity = c.ok("STATUS Box2 (UIDVALIDITY)");
    let validity = validity.split("UIDVALIDITY ").nth(1).unwrap().split(')').next().unwrap().to_string();

    let out = c.ok("NOTIFY SET STATUS (mailboxes Box2 (MessageNew MessageExpunge))");
    assert!(out.contains(&format!("* STATUS \"Box2\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity})\r\n")), "{out}");
    let out = c.ok("NOTIFY SET STATUS (mailboxes Box2 (MessageNew MessageExpunge FlagChange))");
    assert!(out.contains(&format!("(MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity} HIGHESTMODSEQ ")), "{out}");
    let out = c.ok("NOTIFY SET (mailboxes Box2 (MessageNew MessageExpunge FlagChange))");
    assert!(!out.contains("* STATUS"), "no STATUS without the STATUS indicator: {out}");
    let out = c.cmd("NOTIFY SET (personal (AnnotationChange))");
    assert!(out.contains(" NO [BADEVENT ("), "{out}");
    let out = c.cmd("NOTIFY SET (personal (MessageNew))");
    assert!(out.lines().last().unwrap().contains(" BAD "), "{out}");

    c.ok("SELECT INBOX");
    c.ok("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (mailboxes Box2 (MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange))");
    other.append("INBOX", "\\Flagged", b"Subject: new\r\n\r\nnew mail\r\n");
    let told = c.unsolicited_until(" FETCH ");
    assert!(told.contains("* 1 EXISTS\r\n"), "{told}");
    assert!(told.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged"), "{told}");
    other.append("Box2", "", b"Subject: two\r\n\r\n2\r\n");
    let told = c.unsolicited_until("* STATUS");
    // With FlagChange asked for, the new message's modseq comes along.
    assert!(told.contains("* STATUS \"Box2\" (MESSAGES 2 UIDNEXT 3 HIGHESTMODSEQ "), "{told}");
    other.ok("SELECT Box2");
    other.ok("STORE 1 +FLAGS (\\Seen)");
    let told = c.unsolicited_until("* STATUS");
    assert!(told.ends_with(")\r\n") && told.contains("* STATUS \"Box2\" (HIGHESTMODSEQ "), "{told}");
    other.ok("CREATE Fresh");
    assert!(c.unsolicited_until("* LIST").ends_with("* LIST () \"/\" \"Fresh\"\r\n"));
    other.ok("SUBSCRIBE Fresh");
    assert!(c.unsolicited_until("* LIST").ends_with("* LIST (\\Subscribed) \"/\" \"Fresh\"\r\n"));
    other.ok("DELETE Fresh");
    assert!(c.unsolicited_until("* LIST").ends_with("* LIST (\\NonExistent) \"/\" \"Fresh\"\r\n"));
    other.ok("SELECT INBOX");
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    other.ok("EXPUNGE");
    let told = c.unsolicited_until("EXPUNGE");
    assert!(told.ends_with("* 1 EXPUNGE\r\n"), "{told}");

    // selected-delayed: the EXPUNGE waits for a command; new mail does not.
    other.append("INBOX", "", b"Subject: a\r\n\r\na\r\n");
    let out = c.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))") + &c.ok("NOOP");
    assert!(out.contains("* 1 EXISTS"), "{out}");
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    other.ok("EXPUNGE");
    other.append("INBOX", "", b"Subject: b\r\n\r\nb\r\n");
    let told = c.unsolicited_until("EXISTS");
    assert!(told.ends_with("* 2 EXISTS\r\n") && !told.contains("EXPUNGE"), "{told}");
    let out = c.ok("NOOP");
    assert!(out.contains("* 1 EXPUNGE\r\n"), "the held expunge, told when it may be: {out}");
    c.ok("NOTIFY NONE");
}
