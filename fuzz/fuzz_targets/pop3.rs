//! Feeds arbitrary bytes to the POP3 command parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::pop3(input));
