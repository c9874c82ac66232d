//! Feeds arbitrary bytes to the Sieve lexer, parser and checker, and runs
//! whatever compiles against a message (the input's first line).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::sieve(input));
