//! Feeds arbitrary text to what Hato parses of DNS- and web-derived records: MTA-STS policies and HTTPS answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::dns_records(input));
