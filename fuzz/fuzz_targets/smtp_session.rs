//! Feeds arbitrary bytes through everything that parses SMTP peer input:
//! the command grammar, SASL decoding, DATA framing and header reading.
#![no_main]

use hato::smtp::{auth, command, data, message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Split like the session does: one command per line.
    for line in input.split_inclusive(|b| *b == b'\n') {
        if let Err(e) = command::parse(line) {
            let _ = e.reply();
        }
        if let Ok(text) = std::str::from_utf8(line) {
            let _ = auth::decode_plain(text);
            let _ = auth::decode_text(text);
            let _ = hato::address::Address::parse(text);
        }
    }
    // DATA framing in uneven chunks must agree with framing in one piece.
    let mut whole = data::DotReader::new(1 << 20);
    let one = whole.feed(input);
    let mut pieces = data::DotReader::new(1 << 20);
    let mut consumed = 0;
    let mut split = None;
    for chunk in input.chunks(7) {
        if let data::Progress::Done(n) = pieces.feed(chunk) {
            split = Some(consumed + n);
            break;
        }
        consumed += chunk.len();
    }
    match one {
        data::Progress::Done(n) => assert_eq!(split, Some(n)),
        data::Progress::More => assert_eq!(split, None),
    }
    assert_eq!(whole.into_body(), pieces.into_body());
    let fields = message::fields(input);
    let _ = message::count(&fields, "Received");
});
