//! Just enough of the zip format to see what an archive holds: entry names
//! from the central directory (zip64 included), and the bytes of an entry
//! (stored or deflated, bounded) so a zip inside a zip can be opened too.
//! What this cannot read — damaged, encrypted, another compression method —
//! is an error saying so; the filter decides what that means.

/// More entries than this is treated as unreadable (a bomb made of entries).
pub const MAX_ENTRIES: usize = 10_000;

pub struct Entry {
    pub name: String,
    pub encrypted: bool,
    method: u16,
    compressed: usize,
    local_offset: usize,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i.checked_add(8)?)?.try_into().ok()?))
}

fn usize_at(b: &[u8], i: usize) -> Option<usize> {
    usize::try_from(u64_at(b, i)?).ok()
}

pub fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
}

const DAMAGED: &str = "damaged zip (its directory cannot be read)";

/// Where the central directory starts and how many entries it has, from the
/// end record — or, when that says "see zip64" (0xFFFF/0xFFFFFFFF), from
/// the zip64 end record its locator points to.
fn directory(b: &[u8]) -> Option<(usize, usize)> {
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let floor = b.len().saturating_sub(65_535 + 22);
    let eocd = (floor..b.len().saturating_sub(21)).rev().find(|i| b[*i..].starts_with(b"PK\x05\x06"))?;
    let count = u16_at(b, eocd + 10)?;
    let at = u32_at(b, eocd + 16)?;
    if count != 0xFFFF && at != 0xFFFF_FFFF {
        return Some((at as usize, count as usize));
    }
    let locator = eocd.checked_sub(20)?;
    if !b.get(locator..)?.starts_with(b"PK\x06\x07") {
        return None;
    }
    let record = usize_at(b, locator + 8)?;
    if !b.get(record..)?.starts_with(b"PK\x06\x06") {
        return None;
    }
    Some((usize_at(b, record + 48)?, usize_at(b, record + 32)?))
}

/// The zip64 extended information of a central entry (RFC-less: APPNOTE
/// 4.5.3): the 64-bit values of the fields that are 0xFFFFFFFF, in order.
fn zip64_values(extra: &[u8], uncompressed: u32, compressed: u32, offset: u32) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, i)?, u16_at(extra, i + 2)? as usize);
        let body = extra.get(i + 4..i + 4 + len)?;
        if id == 0x0001 {
            let mut at = 0;
            if uncompressed == 0xFFFF_FFFF {
                at += 8;
            }
            let c = if compressed == 0xFFFF_FFFF {
                at += 8;
                usize_at(body, at - 8)?
            } else {
                compressed as usize
            };
            let o = if offset == 0xFFFF_FFFF { usize_at(body, at)? } else { offset as usize };
            return Some((c, o));
        }
        i += 4 + len;
    }
    None
}

/// The archive's entries, or why its directory cannot be read.
pub fn entries(b: &[u8]) -> Result<Vec<Entry>, String> {
    let (mut at, count) = directory(b).ok_or(DAMAGED)?;
    if count > MAX_ENTRIES {
        return Err(format!("zip of {count} entries (more than {MAX_ENTRIES})"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(entry(b, &mut at).ok_or(DAMAGED)?);
    }
    Ok(out)
}

/// The central directory entry at `*at`, moving `*at` past it.
fn entry(b: &[u8], at: &mut usize) -> Option<Entry> {
    let a = *at;
    if !b.get(a..)?.starts_with(b"PK\x01\x02") {
        return None;
    }
    let flags = u16_at(b, a + 8)?;
    let method = u16_at(b, a + 10)?;
    let (compressed, uncompressed) = (u32_at(b, a + 20)?, u32_at(b, a + 24)?);
    let (n, e, c) = (u16_at(b, a + 28)? as usize, u16_at(b, a + 30)? as usize, u16_at(b, a + 32)? as usize);
    let local_offset = u32_at(b, a + 42)?;
    let raw = b.get(a + 46..a + 46 + n)?;
    let extra = b.get(a + 46 + n..a + 46 + n + e)?;
    let (compressed, local_offset) = if compressed == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF {
        zip64_values(extra, uncompressed, compressed, local_offset)?
    } else {
        (compressed as usize, local_offset as usize)
    };
    // Bit 11: the name is UTF-8; otherwise it is CP437 (Latin-1 is close enough to compare extensions).
    let name = if flags & 0x800 != 0 {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        raw.iter().map(|c| *c as char).collect()
    };
    *at = a + 46 + n + e + c;
    Some(Entry { name, encrypted: flags & 1 != 0, method, compressed, local_offset })
}

/// An entry's bytes, at most `limit` of them, and whether there were more;
/// or why they cannot be read.
pub fn read(b: &[u8], e: &Entry, limit: usize) -> Result<(Vec<u8>, bool), String> {
    if e.encrypted {
        return Err("encrypted".into());
    }
    let local = e.local_offset;
    let data = (|| {
        if !b.get(local..)?.starts_with(b"PK\x03\x04") {
            return None;
        }
        let n = u16_at(b, local + 26)? as usize;
        let x = u16_at(b, local + 28)? as usize;
        let start = local + 30 + n + x;
        b.get(start..start.checked_add(e.compressed)?.min(b.len()))
    })()
    .ok_or("damaged zip entry")?;
    match e.method {
        0 => Ok((data[..data.len().min(limit)].to_vec(), data.len() > limit)),
        8 => super::unpack::bounded(flate2::read::DeflateDecoder::new(data), limit),
        m => Err(format!("compression method {m} is not supported")),
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
        assert_eq!(read(&z, &e[0], 100).unwrap(), (b"hello".to_vec(), false));
        assert_eq!(read(&z, &e[0], 2).unwrap(), (b"he".to_vec(), true));
        assert!(entries(b"PK\x03\x04 truncated").is_err());
    }

    #[test]
    fn reads_a_real_deflated_zip() {
        // Made with Python's zipfile (ZIP_DEFLATED): one entry "x/inner.js" holding "alert(1)\n" × 20.
        let z = base64_decode(
            "UEsDBBQAAAAIAAAAIUiEyxr5DgAAALQAAAAKAAAAeC9pbm5lci5qc0vMSS0q0TDU5EocOgwAUEsBAhQDFAAAAAgAAAAhSITLGvkOAAAAtAAAAAoAAAAAAAAAAAAAAIABAAAAAHgvaW5uZXIuanNQSwUGAAAAAAEAAQA4AAAANgAAAAAA",
        );
        let e = entries(&z).unwrap();
        assert_eq!(e[0].name, "x/inner.js");
        assert_eq!(read(&z, &e[0], 1000).unwrap().0, "alert(1)\n".repeat(20).as_bytes());
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        crate::smtp::auth::decode_b64(s).unwrap()
    }
}
