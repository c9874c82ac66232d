//! Feeds arbitrary bytes through everything that parses IMAP peer input and
//! what it drives: the extended grammar, mailbox names, command decoding,
//! SEARCH evaluation, FETCH rendering, SORT/THREAD — and the bytes as a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::imap(input));
