//! What an attachment holds when it is an archive, by its magic bytes: the
//! members of a zip (`zip`), a tar, or the one file of a gzip stream (whose
//! content may be a tar in turn). 7z and rar are recognised but cannot be
//! looked inside (no maintained pure-Rust reader of rar; 7z's headers need
//! LZMA): they are unreadable, like encrypted or damaged archives, and the
//! filter's `archive_action` decides. Every read is bounded; the caller
//! keeps the total for one message (`Budget`).

use std::io::Read;

use super::zip;

/// Largest member unpacked to look inside it (an archive in an archive).
pub const MAX_MEMBER: usize = 20 * 1024 * 1024;

/// Most bytes unpacked for one message, all archives together: past this
/// the rest is unreadable (a decompression bomb).
pub const MAX_TOTAL: usize = 100 * 1024 * 1024;

/// An archive format recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Gzip,
    Tar,
    SevenZip,
    Rar,
}

pub fn kind(b: &[u8]) -> Option<Kind> {
    if zip::is_zip(b) {
        Some(Kind::Zip)
    } else if b.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if b.get(257..262) == Some(b"ustar") {
        Some(Kind::Tar)
    } else if b.starts_with(b"7z\xbc\xaf\x27\x1c") {
        Some(Kind::SevenZip)
    } else if b.starts_with(b"Rar!\x1a\x07") {
        Some(Kind::Rar)
    } else {
        None
    }
}

/// One file inside an archive: its name and its bytes (at most
/// `MAX_MEMBER`, `truncated` when there were more), or why they cannot be read.
pub struct Member {
    pub name: String,
    pub data: Result<(Vec<u8>, bool), String>,
}

/// What is left to unpack for one message.
pub struct Budget(usize);

impl Default for Budget {
    fn default() -> Self {
        Budget(MAX_TOTAL)
    }
}

impl Budget {
    fn take(&mut self, n: usize) -> Result<(), String> {
        self.0 = self.0.checked_sub(n).ok_or(format!("more than {} MB unpacked", MAX_TOTAL >> 20))?;
        Ok(())
    }
}

/// The members of the archive `b` (of `kind`), or why it cannot be opened.
pub fn open(kind: Kind, b: &[u8], budget: &mut Budget) -> Result<Vec<Member>, String> {
    let members = match kind {
        Kind::Zip => zip::entries(b)?
            .iter()
            .map(|e| Member { name: e.name.clone(), data: zip::read(b, e, MAX_MEMBER) })
            .collect(),
        Kind::Gzip => vec![gunzip(b)],
        Kind::Tar => tar(b)?,
        Kind::SevenZip => return Err("7z archive: its contents cannot be checked".into()),
        Kind::Rar => return Err("rar archive: its contents cannot be checked".into()),
    };
    for m in &members {
        if let Ok((data, _)) = &m.data {
            budget.take(data.len())?;
        }
    }
    Ok(members)
}

/// Reads at most `limit` bytes from `r`, and whether there were more.
pub fn bounded(r: impl Read, limit: usize) -> Result<(Vec<u8>, bool), String> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| format!("damaged compressed data ({e})"))?;
    let truncated = out.len() > limit;
    out.truncate(limit);
    Ok((out, truncated))
}

fn gunzip(b: &[u8]) -> Member {
    let mut d = flate2::read::GzDecoder::new(b);
    let name = d.header().and_then(|h| h.filename()).map(|n| String::from_utf8_lossy(n).into_owned());
    let data = bounded(&mut d, MAX_MEMBER);
    Member { name: name.unwrap_or_else(|| "(gzip content)".into()), data }
}

/// The files of a POSIX (ustar) or GNU tar: 512-byte headers, each followed
/// by its data padded to 512.
fn tar(b: &[u8]) -> Result<Vec<Member>, String> {
    const DAMAGED: &str = "damaged tar";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = b.get(at..at + 512) {
        if h.iter().all(|c| *c == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            String::from_utf8_lossy(&f[..f.iter().position(|c| *c == 0).unwrap_or(f.len())]).into_owned()
        };
        let size = usize::from_str_radix(field(124..136).trim(), 8).map_err(|_| DAMAGED)?;
        let mut name = field(0..100);
        let prefix = field(345..500);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let start = at + 512;
        let data = b.get(start..start.checked_add(size).ok_or(DAMAGED)?).ok_or(DAMAGED)?;
        // Regular files only ('0' or NUL); links, directories and GNU long-name records carry no content to check.
        if matches!(h[156], b'0' | 0) {
            if out.len() >= zip::MAX_ENTRIES {
                return Err(format!("tar of more than {} files", zip::MAX_ENTRIES));
            }
            let kept = data[..size.min(MAX_MEMBER)].to_vec();
            out.push(Member { name, data: Ok((kept, size > MAX_MEMBER)) });
        }
        at = start + size.div_ceil(512) * 512;
    }
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A ustar archive of the given files (as Python's tarfile writes them).
    pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    #[test]
    fn tar_and_gzip_members_are_listed_and_bounded() {
        let t = tar_of(&[("docs/a.txt", b"hello"), ("run.exe", b"MZ")]);
        assert_eq!(kind(&t), Some(Kind::Tar));
        let m = open(Kind::Tar, &t, &mut Budget::default()).unwrap();
        assert_eq!(m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["docs/a.txt", "run.exe"]);
        assert_eq!(m[0].data.as_ref().unwrap().0, b"hello");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(kind(&gz), Some(Kind::Gzip));
        let m = open(Kind::Gzip, &gz, &mut Budget::default()).unwrap();
        assert_eq!(kind(&m[0].data.as_ref().unwrap().0), Some(Kind::Tar), "a .tar.gz holds a tar");

        // A damaged tar is an error, not an empty archive.
        let mut bad = t.clone();
        bad[124..135].copy_from_slice(b"99999999999");
        assert!(open(Kind::Tar, &bad, &mut Budget::default()).is_err());
    }

    #[test]
    fn a_bomb_runs_out_of_budget() {
        let zeros = vec![0u8; 30 * 1024 * 1024];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 100_000, "30 MiB of zeros compress to {} bytes", gz.len());
        let m = open(Kind::Gzip, &gz, &mut Budget::default()).unwrap();
        let (data, truncated) = m[0].data.as_ref().unwrap();
        assert!(data.len() == MAX_MEMBER && *truncated, "read no further than MAX_MEMBER");
        let mut budget = Budget::default();
        let opened = (0..10).map(|_| open(Kind::Gzip, &gz, &mut budget)).collect::<Vec<_>>();
        assert!(opened.iter().any(|o| o.as_ref().is_err_and(|e| e.contains("MB unpacked"))));
    }

    #[test]
    fn seven_zip_and_rar_are_recognised_but_not_opened() {
        assert_eq!(kind(b"7z\xbc\xaf\x27\x1c\x00\x04rest"), Some(Kind::SevenZip));
        assert_eq!(kind(b"Rar!\x1a\x07\x01\x00rest"), Some(Kind::Rar));
        assert!(open(Kind::Rar, b"Rar!\x1a\x07\x01\x00", &mut Budget::default()).is_err());
        assert_eq!(kind(b"%PDF-1.4"), None);
    }
}
