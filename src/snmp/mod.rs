//! Hato's SNMP subagent. net-snmp's snmpd is the master agent (v2c, v3 USM,
//! HOST-RESOURCES, IF and UCD tables; its config is written by
//! `supervisor::snmpd`); the supervisor runs this AgentX subagent beside it
//! for what only Hato knows.
//!
//! - `agentx`: the PDU codec (RFC 2741), no I/O.
//! - `tree`: a sorted snapshot of served objects and the Get/GetNext/GetBulk lookups.
//! - `mib`: which OID holds what (NETWORK-SERVICES-MIB, MTA-MIB, HATO-MIB).
//! - `source`: where the values come from at snapshot time.
//! - `subagent`: the session with snmpd, reconnecting, alerts as notifications.

pub mod agentx;
pub mod mib;
pub mod source;
pub mod subagent;
pub mod tree;
