//! Feeds arbitrary bytes to the AgentX (RFC 2741) packet decoder, as snmpd would send them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let _ = { if let Ok(Some(n)) = hato::snmp::agentx::packet_len(input) { let _ = hato::snmp::agentx::decode(&input[..n.min(input.len())]); } let _ = hato::snmp::agentx::decode(input); };
});
