//! Just enough of the zip format to see what an archive holds: entry names
//! from the central directory, and the bytes of an entry (stored or deflated,
//! bounded) so a zip inside a zip can be opened too. Archives this cannot read
//! (zip64, damaged) are reported as such; the caller decides.

use std::io::Read;

pub struct Entry {
    pub name: String,
    pub encrypted: bool,
    method: u16,
    compressed: usize,
    local_offset: usize,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

pub fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
}

/// The archive's entries, or None if its directory cannot be read.
pub fn entries(b: &[u8]) -> Option<Vec<Entry>> {
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let floor = b.len().saturating_sub(65_535 + 22);
    let eocd = (floor..b.len().saturating_sub(21)).rev().find(|i| b[*i..].starts_with(b"PK\x05\x06"))?;
    let count = u16_at(b, eocd + 10)? as usize;
    let mut at = u32_at(b, eocd + 16)? as usize;
    if at == 0xFFFF_FFFF {
        return None; // zip64
    }
    let mut out = Vec::with_capacity(count.min(10_000));
    for _ in 0..count.min(10_000) {
        if !b.get(at..)?.starts_with(b"PK\x01\x02") {
            return None;
        }
        let flags = u16_at(b, at + 8)?;
        let method = u16_at(b, at + 10)?;
        let compressed = u32_at(b, at + 20)? as usize;
        let (n, e, c) = (u16_at(b, at + 28)? as usize, u16_at(b, at + 30)? as usize, u16_at(b, at + 32)? as usize);
        let local_offset = u32_at(b, at + 42)? as usize;
        let raw = b.get(at + 46..at + 46 + n)?;
        // Bit 11: the name is UTF-8; otherwise it is CP437 (Latin-1 is close enough to compare extensions).
        let name = if flags & 0x800 != 0 {
            String::from_utf8_lossy(raw).into_owned()
        } else {
            raw.iter().map(|c| *c as char).collect()
        };
        out.push(Entry { name, encrypted: flags & 1 != 0, method, compressed, local_offset });
        at += 46 + n + e + c;
    }
    Some(out)
}

/// An entry's bytes, at most `limit` of them; None if unreadable (encrypted, unknown method, damaged).
pub fn read(b: &[u8], e: &Entry, limit: usize) -> Option<Vec<u8>> {
    if e.encrypted || !b.get(e.local_offset..)?.starts_with(b"PK\x03\x04") {
        return None;
    }
    let n = u16_at(b, e.local_offset + 26)? as usize;
    let x = u16_at(b, e.local_offset + 28)? as usize;
    let start = e.local_offset + 30 + n + x;
    let data = b.get(start..start.checked_add(e.compressed)?.min(b.len()))?;
    match e.method {
        0 => Some(data[..data.len().min(limit)].to_vec()),
        8 => {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data).take(limit as u64).read_to_end(&mut out).ok()?;
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a zip with stored entries (tests of the filter use it too).
    pub fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let crc = 0u32; // not checked by the reader
            out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x08\x00\x00\x00\x00\x00\x00");
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x08\x00\x00\x00\x00\x00\x00");
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn lists_and_reads_entries() {
        let z = build(&[("a.txt", b"hello"), ("請求書.exe", b"MZ")]);
        assert!(is_zip(&z));
        let e = entries(&z).unwrap();
        assert_eq!(e.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["a.txt", "請求書.exe"]);
        assert_eq!(read(&z, &e[0], 100).unwrap(), b"hello");
        assert_eq!(read(&z, &e[0], 2).unwrap(), b"he");
        assert!(entries(b"PK\x03\x04 truncated").is_none());
    }

    #[test]
    fn reads_a_real_deflated_zip() {
        // Made with Python's zipfile (ZIP_DEFLATED): one entry "x/inner.js" holding "alert(1)\n" × 20.
        let z = base64_decode(
            "UEsDBBQAAAAIAAAAIUiEyxr5DgAAALQAAAAKAAAAeC9pbm5lci5qc0vMSS0q0TDU5EocOgwAUEsBAhQDFAAAAAgAAAAhSITLGvkOAAAAtAAAAAoAAAAAAAAAAAAAAIABAAAAAHgvaW5uZXIuanNQSwUGAAAAAAEAAQA4AAAANgAAAAAA",
        );
        let e = entries(&z).unwrap();
        assert_eq!(e[0].name, "x/inner.js");
        assert_eq!(read(&z, &e[0], 1000).unwrap(), "alert(1)\n".repeat(20).as_bytes());
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        crate::smtp::auth::decode_b64(s).unwrap()
    }
}
