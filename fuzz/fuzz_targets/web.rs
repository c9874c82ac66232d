//! The web console's value parsers and WebMail's rendering of any message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::web(input));
