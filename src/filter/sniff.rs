//! Recognising executables by their first bytes, whatever their name says:
//! an invoice.pdf that starts with "MZ" is a Windows program.

/// The kind of executable these bytes begin, if any.
pub fn executable(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"MZ") {
        return Some("a Windows executable (MZ)");
    }
    if b.starts_with(b"\x7fELF") {
        return Some("a Linux executable (ELF)");
    }
    if [&[0xFE, 0xED, 0xFA, 0xCE][..], &[0xFE, 0xED, 0xFA, 0xCF], &[0xCE, 0xFA, 0xED, 0xFE], &[0xCF, 0xFA, 0xED, 0xFE]]
        .iter()
        .any(|m| b.starts_with(m))
    {
        return Some("a macOS executable (Mach-O)");
    }
    if b.starts_with(&[0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]) {
        return Some("a Windows shortcut (LNK)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::executable;

    #[test]
    fn recognises_programs_not_documents() {
        assert!(executable(b"MZ\x90\x00\x03").is_some());
        assert!(executable(b"\x7fELF\x02\x01").is_some());
        assert!(executable(b"%PDF-1.7").is_none());
        assert!(executable(b"PK\x03\x04").is_none());
        assert!(executable(b"").is_none());
    }
}
