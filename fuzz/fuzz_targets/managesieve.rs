//! Feeds arbitrary bytes to the ManageSieve line parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::managesieve(input));
