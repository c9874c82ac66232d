//! AgentX (RFC 2741) PDUs: the subset a read-only subagent needs, encoded
//! and decoded. No I/O here, so every byte layout is unit-tested.
//!
//! We always send in network byte order (flag bit 0x10); a master may answer
//! in either order, so each decoded packet is read in the order its own
//! header names.

use thiserror::Error;

pub const HEADER_LEN: usize = 20;
/// A PDU larger than this is refused rather than buffered.
pub const MAX_PAYLOAD: usize = 1 << 20;

const FLAG_NON_DEFAULT_CONTEXT: u8 = 0x08;
const FLAG_NETWORK_BYTE_ORDER: u8 = 0x10;

#[derive(Debug, Error, PartialEq)]
pub enum AgentxError {
    #[error("AgentX packet truncated: needed {needed} more bytes")]
    Truncated { needed: usize },
    #[error("AgentX packet has version {0}; only version 1 is spoken")]
    Version(u8),
    #[error("AgentX payload of {0} bytes is over the 1 MiB limit")]
    TooLarge(usize),
    #[error("AgentX packet is malformed: {0}")]
    Malformed(&'static str),
}

/// PDU types (RFC 2741 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Open = 1,
    Close = 2,
    Register = 3,
    Get = 5,
    GetNext = 6,
    GetBulk = 7,
    TestSet = 8,
    CommitSet = 9,
    UndoSet = 10,
    CleanupSet = 11,
    Notify = 12,
    Ping = 13,
    Response = 18,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        use Kind::*;
        Some(match b {
            1 => Open,
            2 => Close,
            3 => Register,
            5 => Get,
            6 => GetNext,
            7 => GetBulk,
            8 => TestSet,
            9 => CommitSet,
            10 => UndoSet,
            11 => CleanupSet,
            12 => Notify,
            13 => Ping,
            18 => Response,
            _ => return None,
        })
    }
}

/// Response error codes we send or read (RFC 2741 §6.2.16).
pub mod error {
    pub const NONE: u16 = 0;
    pub const GEN_ERR: u16 = 5;
    pub const NOT_WRITABLE: u16 = 17;
    pub const DUPLICATE_REGISTRATION: u16 = 263;
}

/// An object identifier; `Vec<u32>` ordering is SNMP's lexicographic order.
pub type Oid = Vec<u32>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    fn tag(&self) -> u16 {
        match self {
            Value::Integer(_) => 2,
            Value::OctetString(_) => 4,
            Value::Null => 5,
            Value::ObjectId(_) => 6,
            Value::Counter32(_) => 65,
            Value::Gauge32(_) => 66,
            Value::TimeTicks(_) => 67,
            Value::Counter64(_) => 70,
            Value::NoSuchObject => 128,
            Value::NoSuchInstance => 129,
            Value::EndOfMibView => 130,
        }
    }

    pub fn string(s: &str) -> Value {
        Value::OctetString(s.as_bytes().to_vec())
    }
}

/// A search range from the master: start (inclusive when `include`) up to end (exclusive; empty = unbounded).
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub start: Oid,
    pub include: bool,
    pub end: Oid,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Header {
    pub session: u32,
    pub transaction: u32,
    pub packet: u32,
}

/// A decoded PDU from the master.
#[derive(Debug, PartialEq)]
pub enum Pdu {
    Response {
        header: Header,
        error: u16,
        index: u16,
    },
    Get {
        header: Header,
        ranges: Vec<Range>,
    },
    GetNext {
        header: Header,
        ranges: Vec<Range>,
    },
    GetBulk {
        header: Header,
        non_repeaters: u16,
        max_repetitions: u16,
        ranges: Vec<Range>,
    },
    /// TestSet and the rest of the set family: we are read-only.
    Set {
        header: Header,
        kind: Kind,
    },
    Close {
        header: Header,
    },
    /// Anything else a master may send that needs no answer from us.
    Other {
        header: Header,
        kind: Kind,
    },
}

// ---- encoding -------------------------------------------------------------

struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn oid(&mut self, oid: &[u32], include: bool) {
        // 1.3.6.1.<n>.… with n < 256 is sent as a prefix byte (RFC 2741 §5.1).
        let (prefix, rest) = match oid {
            [1, 3, 6, 1, p, rest @ ..] if *p > 0 && *p < 256 => (*p as u8, rest),
            _ => (0, oid),
        };
        self.u8(rest.len() as u8);
        self.u8(prefix);
        self.u8(include as u8);
        self.u8(0);
        for s in rest {
            self.u32(*s);
        }
    }
    fn octets(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self.0.resize(self.0.len() + (4 - b.len() % 4) % 4, 0);
    }
    fn varbind(&mut self, name: &[u32], v: &Value) {
        self.u16(v.tag());
        self.u16(0);
        self.oid(name, false);
        match v {
            Value::Integer(i) => self.u32(*i as u32),
            Value::OctetString(b) => self.octets(b),
            Value::ObjectId(o) => self.oid(o, false),
            Value::Counter32(n) | Value::Gauge32(n) | Value::TimeTicks(n) => self.u32(*n),
            Value::Counter64(n) => self.0.extend_from_slice(&n.to_be_bytes()),
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {}
        }
    }
}

fn packet(kind: Kind, h: Header, payload: Vec<u8>) -> Vec<u8> {
    let mut out = Out(Vec::with_capacity(HEADER_LEN + payload.len()));
    out.u8(1);
    out.u8(kind as u8);
    out.u8(FLAG_NETWORK_BYTE_ORDER);
    out.u8(0);
    out.u32(h.session);
    out.u32(h.transaction);
    out.u32(h.packet);
    out.u32(payload.len() as u32);
    out.0.extend_from_slice(&payload);
    out.0
}

pub fn open(packet_id: u32, timeout_secs: u8, id: &[u32], descr: &str) -> Vec<u8> {
    let mut p = Out(Vec::new());
    p.u8(timeout_secs);
    p.0.extend_from_slice(&[0, 0, 0]);
    p.oid(id, false);
    p.octets(descr.as_bytes());
    packet(Kind::Open, Header { packet: packet_id, ..Header::default() }, p.0)
}

pub fn register(session: u32, packet_id: u32, subtree: &[u32], priority: u8) -> Vec<u8> {
    let mut p = Out(Vec::new());
    p.u8(0); // timeout: the session's
    p.u8(priority);
    p.u8(0); // no range
    p.u8(0);
    p.oid(subtree, false);
    packet(Kind::Register, Header { session, transaction: 0, packet: packet_id }, p.0)
}

pub fn notify(session: u32, packet_id: u32, binds: &[(Oid, Value)]) -> Vec<u8> {
    let mut p = Out(Vec::new());
    for (name, v) in binds {
        p.varbind(name, v);
    }
    packet(Kind::Notify, Header { session, transaction: 0, packet: packet_id }, p.0)
}

pub fn ping(session: u32, packet_id: u32) -> Vec<u8> {
    packet(Kind::Ping, Header { session, transaction: 0, packet: packet_id }, Vec::new())
}

pub fn close(session: u32, packet_id: u32) -> Vec<u8> {
    // reasonShutdown (5).
    packet(Kind::Close, Header { session, transaction: 0, packet: packet_id }, vec![5, 0, 0, 0])
}

/// Our answer to a master's request: same ids, sysUpTime 0 (only the master's counts).
pub fn response(h: Header, error: u16, index: u16, binds: &[(Oid, Value)]) -> Vec<u8> {
    let mut p = Out(Vec::new());
    p.u32(0);
    p.u16(error);
    p.u16(index);
    for (name, v) in binds {
        p.varbind(name, v);
    }
    packet(Kind::Response, h, p.0)
}

// ---- decoding -------------------------------------------------------------

struct In<'a> {
    b: &'a [u8],
    at: usize,
    big: bool,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AgentxError> {
        let end = self.at.checked_add(n).ok_or(AgentxError::Malformed("length overflow"))?;
        if end > self.b.len() {
            return Err(AgentxError::Malformed("field runs past the payload"));
        }
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, AgentxError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, AgentxError> {
        let b: [u8; 2] = self.take(2)?.try_into().map_err(|_| AgentxError::Malformed("u16"))?;
        Ok(if self.big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }
    fn u32(&mut self) -> Result<u32, AgentxError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| AgentxError::Malformed("u32"))?;
        Ok(if self.big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }
    fn oid(&mut self) -> Result<(Oid, bool), AgentxError> {
        let n = self.u8()? as usize;
        let prefix = self.u8()?;
        let include = self.u8()? != 0;
        self.u8()?;
        let mut oid = if prefix != 0 { vec![1, 3, 6, 1, prefix as u32] } else { Vec::new() };
        for _ in 0..n {
            oid.push(self.u32()?);
        }
        Ok((oid, include))
    }
    fn octets(&mut self) -> Result<&'a [u8], AgentxError> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        self.take((4 - n % 4) % 4)?;
        Ok(s)
    }
    fn ranges(&mut self) -> Result<Vec<Range>, AgentxError> {
        let mut out = Vec::new();
        while self.at < self.b.len() {
            let (start, include) = self.oid()?;
            let (end, _) = self.oid()?;
            out.push(Range { start, include, end });
        }
        Ok(out)
    }
}

/// How many bytes the packet starting at `buf` takes, once its header is in.
pub fn packet_len(buf: &[u8]) -> Result<Option<usize>, AgentxError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != 1 {
        return Err(AgentxError::Version(buf[0]));
    }
    let b: [u8; 4] = [buf[16], buf[17], buf[18], buf[19]];
    let len =
        if buf[2] & FLAG_NETWORK_BYTE_ORDER != 0 { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) } as usize;
    if len > MAX_PAYLOAD {
        return Err(AgentxError::TooLarge(len));
    }
    Ok(Some(HEADER_LEN + len))
}

/// Decodes one whole packet (as measured by `packet_len`).
pub fn decode(buf: &[u8]) -> Result<Pdu, AgentxError> {
    let total =
        packet_len(buf)?.ok_or_else(|| AgentxError::Truncated { needed: HEADER_LEN.saturating_sub(buf.len()) })?;
    if buf.len() < total {
        return Err(AgentxError::Truncated { needed: total - buf.len() });
    }
    let flags = buf[2];
    let mut hin = In { b: &buf[4..HEADER_LEN], at: 0, big: flags & FLAG_NETWORK_BYTE_ORDER != 0 };
    let header = Header { session: hin.u32()?, transaction: hin.u32()?, packet: hin.u32()? };
    let kind = Kind::from_u8(buf[1]).ok_or(AgentxError::Malformed("unknown PDU type"))?;
    let mut p = In { b: &buf[HEADER_LEN..total], at: 0, big: hin.big };
    let has_context = flags & FLAG_NON_DEFAULT_CONTEXT != 0;
    let skip_context = |p: &mut In| -> Result<(), AgentxError> {
        if has_context {
            p.octets()?;
        }
        Ok(())
    };
    Ok(match kind {
        Kind::Response => {
            p.u32()?; // master's sysUpTime
            Pdu::Response { header, error: p.u16()?, index: p.u16()? }
        }
        Kind::Get => {
            skip_context(&mut p)?;
            Pdu::Get { header, ranges: p.ranges()? }
        }
        Kind::GetNext => {
            skip_context(&mut p)?;
            Pdu::GetNext { header, ranges: p.ranges()? }
        }
        Kind::GetBulk => {
            skip_context(&mut p)?;
            let non_repeaters = p.u16()?;
            let max_repetitions = p.u16()?;
            Pdu::GetBulk { header, non_repeaters, max_repetitions, ranges: p.ranges()? }
        }
        Kind::TestSet | Kind::CommitSet | Kind::UndoSet | Kind::CleanupSet => Pdu::Set { header, kind },
        Kind::Close => Pdu::Close { header },
        other => Pdu::Other { header, kind: other },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_prefix_compression() {
        let mut o = Out(Vec::new());
        o.oid(&[1, 3, 6, 1, 2, 1, 28, 1], true);
        assert_eq!(o.0, [3, 2, 1, 0, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 1]);
        let mut o = Out(Vec::new());
        o.oid(&[1, 3], false);
        assert_eq!(o.0, [2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3]);
        let mut i = In { b: &[3, 2, 1, 0, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 1], at: 0, big: true };
        assert_eq!(i.oid().unwrap(), (vec![1, 3, 6, 1, 2, 1, 28, 1], true));
    }

    #[test]
    fn open_packet_layout() {
        let p = open(7, 5, &[1, 3, 6, 1, 4, 1, 99999], "Hato");
        assert_eq!(&p[..4], &[1, 1, 0x10, 0]);
        assert_eq!(&p[12..16], &7u32.to_be_bytes());
        let len = u32::from_be_bytes([p[16], p[17], p[18], p[19]]) as usize;
        assert_eq!(p.len(), HEADER_LEN + len);
        // timeout, 3 reserved, OID (4 + 2*4), string (4 + "Hato").
        assert_eq!(len, 4 + 12 + 8);
        assert_eq!(&p[HEADER_LEN..HEADER_LEN + 4], &[5, 0, 0, 0]);
        assert_eq!(&p[p.len() - 4..], b"Hato");
    }

    #[test]
    fn varbinds_pad_strings_and_carry_counter64() {
        let mut o = Out(Vec::new());
        o.varbind(&[1, 3, 6, 1, 4, 1, 9, 1, 0], &Value::string("abcde"));
        // type 4, reserved, OID (4 + 4*4 after prefix 4), length 5, "abcde" + 3 pad.
        assert_eq!(o.0.len(), 4 + 20 + 4 + 8);
        assert_eq!(&o.0[..2], &[0, 4]);
        assert_eq!(&o.0[o.0.len() - 3..], &[0, 0, 0]);
        let mut o = Out(Vec::new());
        o.varbind(&[1, 3], &Value::Counter64(1 << 40));
        assert_eq!(&o.0[..2], &[0, 70]);
        assert_eq!(&o.0[o.0.len() - 8..], &(1u64 << 40).to_be_bytes());
    }

    fn request(kind: u8, flags: u8, payload: &[u8], big: bool) -> Vec<u8> {
        let mut v = vec![1, kind, flags, 0];
        for n in [42u32, 9, 3, payload.len() as u32] {
            v.extend_from_slice(&if big { n.to_be_bytes() } else { n.to_le_bytes() });
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_getnext_in_either_byte_order() {
        // start 1.3.6.1.2.1.28 (include), end 1.3.6.1.2.1.29.
        let be = [2, 2, 1, 0, 0, 0, 0, 1, 0, 0, 0, 28, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 29];
        let pdu = decode(&request(6, 0x10, &be, true)).unwrap();
        let want = Range { start: vec![1, 3, 6, 1, 2, 1, 28], include: true, end: vec![1, 3, 6, 1, 2, 1, 29] };
        assert_eq!(
            pdu,
            Pdu::GetNext { header: Header { session: 42, transaction: 9, packet: 3 }, ranges: vec![want.clone()] }
        );
        let le = [2, 2, 1, 0, 1, 0, 0, 0, 28, 0, 0, 0, 2, 2, 0, 0, 1, 0, 0, 0, 29, 0, 0, 0];
        let pdu = decode(&request(6, 0, &le, false)).unwrap();
        assert_eq!(pdu, Pdu::GetNext { header: Header { session: 42, transaction: 9, packet: 3 }, ranges: vec![want] });
    }

    #[test]
    fn skips_a_context_and_reads_getbulk() {
        let mut payload = vec![0, 0, 0, 3, b'c', b't', b'x', 0, 0, 1, 0, 10];
        payload.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let pdu = decode(&request(7, 0x18, &payload, true)).unwrap();
        let Pdu::GetBulk { non_repeaters, max_repetitions, ranges, .. } = pdu else { panic!("{pdu:?}") };
        assert_eq!((non_repeaters, max_repetitions), (1, 10));
        assert_eq!(ranges, [Range { start: vec![1, 3, 6, 1, 4, 1], include: false, end: vec![] }]);
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        assert_eq!(packet_len(&[1, 5, 0x10]), Ok(None));
        assert_eq!(packet_len(&request(5, 0x10, &[], true)[..]).unwrap(), Some(HEADER_LEN));
        let mut v2 = request(5, 0x10, &[], true);
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(AgentxError::Version(2)));
        // An OID claiming 200 sub-identifiers in a 4-byte payload.
        assert!(matches!(decode(&request(5, 0x10, &[200, 0, 0, 0], true)), Err(AgentxError::Malformed(_))));
        let mut huge = request(5, 0x10, &[], true);
        huge[16..20].copy_from_slice(&(u32::MAX).to_be_bytes());
        assert_eq!(packet_len(&huge), Err(AgentxError::TooLarge(u32::MAX as usize)));
        assert!(matches!(decode(&request(99, 0x10, &[], true)), Err(AgentxError::Malformed(_))));
    }

    #[test]
    fn response_echoes_ids() {
        let h = Header { session: 1, transaction: 2, packet: 3 };
        let r = response(h, error::NOT_WRITABLE, 1, &[]);
        assert_eq!(r[1], Kind::Response as u8);
        assert_eq!(&r[4..16], &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
        assert_eq!(&r[HEADER_LEN..], &[0, 0, 0, 0, 0, 17, 0, 1]);
    }
}
