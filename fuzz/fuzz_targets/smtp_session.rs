//! Feeds arbitrary bytes through everything that parses SMTP peer input:
//! the command grammar, SASL decoding, DATA framing and header reading.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::smtp(input));
