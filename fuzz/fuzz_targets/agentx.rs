//! Feeds arbitrary bytes to the AgentX (RFC 2741) packet decoder, as snmpd would send them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| hato::fuzz::agentx(input));
