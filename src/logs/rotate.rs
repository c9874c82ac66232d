//! A log file that rotates itself by size and age and keeps gzip-compressed
//! generations. Writes are whole lines, and rotation happens between lines,
//! so no line is ever split or lost across a rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::supervisor::spec::RotateConfig;

pub struct RotatingFile {
    path: PathBuf,
    cfg: RotateConfig,
    file: File,
    size: u64,
    opened: SystemTime,
}

impl RotatingFile {
    pub fn open(path: &Path, cfg: RotateConfig) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        let opened = meta.created().or_else(|_| meta.modified()).unwrap_or_else(|_| SystemTime::now());
        Ok(RotatingFile { path: path.to_path_buf(), cfg, file, size: meta.len(), opened })
    }

    /// Appends one line (a newline is added if missing).
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let extra = u64::from(!line.ends_with(b"\n"));
        let too_big = self.size > 0 && self.size + line.len() as u64 + extra > self.cfg.max_bytes;
        let too_old =
            self.size > 0 && self.opened.elapsed().unwrap_or_default() > Duration::from_secs(self.cfg.max_age_secs);
        if too_big || too_old {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        if extra == 1 {
            self.file.write_all(b"\n")?;
        }
        self.size += line.len() as u64 + extra;
        Ok(())
    }

    fn generation(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}.gz"));
        PathBuf::from(p)
    }

    /// file → file.1.gz, file.1.gz → file.2.gz, ...; beyond `keep` is deleted.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.cfg.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(self.generation(self.cfg.keep));
            for n in (1..self.cfg.keep).rev() {
                let from = self.generation(n);
                if from.exists() {
                    fs::rename(&from, self.generation(n + 1))?;
                }
            }
            // Compress to a temporary name first so a crash never leaves a half file as .1.gz.
            let tmp = self.generation(0);
            {
                let mut src = File::open(&self.path)?;
                let out = File::create(&tmp)?;
                let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                io::copy(&mut src, &mut gz)?;
                gz.finish()?.sync_all()?;
            }
            fs::rename(&tmp, self.generation(1))?;
            fs::remove_file(&self.path)?;
        }
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        self.opened = SystemTime::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(p: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(p).unwrap()).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn rotates_by_size_keeps_generations_and_loses_no_line() {
        let dir = std::env::temp_dir().join(format!("hato-rotate-{}", crate::ids::token(8)));
        let path = dir.join("svc.log");
        let cfg = RotateConfig { max_bytes: 100, max_age_secs: 3600, keep: 2 };
        let mut f = RotatingFile::open(&path, cfg).unwrap();
        for i in 0..40 {
            f.write_line(format!("line {i:03} ..........").as_bytes()).unwrap();
        }
        let current = fs::read_to_string(&path).unwrap();
        let g1 = gunzip(&f.generation(1));
        let g2 = gunzip(&f.generation(2));
        assert!(!f.generation(3).exists(), "only `keep` generations are kept");
        // The newest lines, in order, with no gap between generations.
        let all: Vec<&str> = g2.lines().chain(g1.lines()).chain(current.lines()).collect();
        let first: usize = all[0][5..8].parse().unwrap();
        for (k, l) in all.iter().enumerate() {
            assert_eq!(*l, format!("line {:03} ..........", first + k));
        }
        assert_eq!(all.last().unwrap(), &"line 039 ..........");
        assert!(current.len() <= 100 && g1.len() <= 100);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn rotates_by_age() {
        let dir = std::env::temp_dir().join(format!("hato-rotate-{}", crate::ids::token(8)));
        let path = dir.join("svc.log");
        let mut f = RotatingFile::open(&path, RotateConfig { max_bytes: 1 << 20, max_age_secs: 0, keep: 1 }).unwrap();
        f.write_line(b"old").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        f.write_line(b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(gunzip(&f.generation(1)), "old\n");
        fs::remove_dir_all(dir).ok();
    }
}
