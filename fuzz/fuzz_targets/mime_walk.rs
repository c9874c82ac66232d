//! The attachment filter's walk over untrusted MIME (names, nested messages)
//! and its zip reader (directories, entries, deflate), on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::mime(input));
