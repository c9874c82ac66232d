//! One entry point for `cargo fuzz` (fuzz/fuzz_targets/imap.rs) into the
//! parts of IMAP that read peer input: the extended grammar, APPEND's
//! (MULTIAPPEND, CATENATE), NOTIFY's, IMAP URLs and the sections they name, mailbox-name
//! decoding, imap-codec's decoder and then SEARCH evaluation, FETCH rendering,
//! SORT and THREAD on sample messages — and the input itself as a message.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use mail_parser::MessageParser;

use super::{append, extended, fetch, notify, search, sort, structure, thread, url, utf7};
use crate::store::MessageMeta;

const SAMPLE: &[u8] = b"From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\r\nTo: a@b.test\r\nSubject: Re: report\r\nMessage-ID: <m1@x>\r\nReferences: <m0@x>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\nhello\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n";

fn exercise_message(raw: &[u8], items: &[MessageDataItemName]) {
    let meta = MessageMeta {
        uid: 7,
        size: raw.len() as i64,
        flags: "\\Seen $Junk".into(),
        internal_date: 1_800_000_000,
        modseq: 3,
    };
    let parsed = MessageParser::default().parse(raw);
    let mut out = Vec::new();
    let _ = fetch::render(&mut out, items, &meta, true, Some(raw), parsed.as_ref(), true);
    if let Some(m) = parsed.as_ref() {
        let mut o = Vec::new();
        structure::envelope(&mut o, m);
        structure::body_structure(&mut o, m, 0, true);
        for path in [&[1u32][..], &[2], &[2, 1], &[3], &[1, 1, 1]] {
            let _ = structure::section(m, path, true);
            let _ = structure::section(m, path, false);
        }
    }
    let s = sort::Summary::new(1, 0, raw.len() as i64, parsed.as_ref());
    let _ = thread::render(&thread::references(&[s.clone(), s.clone()]));
    let _ = thread::render(&thread::ordered_subject(&[s]));
}

#[doc(hidden)]
pub fn fuzz_input(input: &[u8]) {
    let _ = extended::recognise(input);
    let _ = append::recognise(input);
    let _ = notify::recognise(input, &|raw| utf7::decode(raw));
    let _ = utf7::decode(input);
    if let Ok(s) = std::str::from_utf8(input) {
        if let Ok(u) = url::parse(s) {
            let _ = fetch::url_piece(SAMPLE, u.section.as_deref(), u.partial);
        }
        let encoded = utf7::encode(s);
        assert_eq!(utf7::decode(encoded.as_bytes()).as_deref(), Ok(s), "modified UTF-7 must round-trip");
        let _ = sort::base_subject(s);
    }
    let all = [
        MessageDataItemName::Envelope,
        MessageDataItemName::BodyStructure,
        MessageDataItemName::Flags,
        MessageDataItemName::Rfc822Header,
    ];
    exercise_message(input, &all);
    let Ok((_, cmd)) = CommandCodec::default().decode(input) else { return };
    let meta = MessageMeta {
        uid: 7,
        size: SAMPLE.len() as i64,
        flags: "\\Seen".into(),
        internal_date: 1_800_000_000,
        modseq: 3,
    };
    match cmd.body {
        CommandBody::Search { criteria, .. }
        | CommandBody::Sort { search_criteria: criteria, .. }
        | CommandBody::Thread { search_criteria: criteria, .. } => {
            let need = search::needs(criteria.as_ref());
            let c = search::Candidate::new(1, 3, 9, &meta, false).with_raw(SAMPLE, !need.body);
            for k in criteria.as_ref() {
                let _ = search::matches(k, &c);
            }
            let _ = search::uses_modseq(criteria.as_ref());
        }
        CommandBody::Fetch { macro_or_item_names, .. } => {
            let items = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(_) => all.to_vec(),
                MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
            };
            exercise_message(SAMPLE, &items);
        }
        _ => {}
    }
}
