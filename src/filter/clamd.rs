//! clamd's INSTREAM protocol: the message goes over clamd's socket in chunks
//! and clamd answers "stream: OK" or "stream: <name> FOUND". Anything else —
//! no clamd, a timeout, an error line — is an error, and the caller answers
//! 451: a message is never passed unscanned.

use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Error)]
pub enum ClamdError {
    #[error("cannot reach clamd at {0}: {1} (is clamav-daemon running?)")]
    Connect(String, std::io::Error),
    #[error("clamd at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("talking to clamd failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("clamd answered {0:?}")]
    Unexpected(String),
}

#[derive(Debug, PartialEq)]
pub enum Scan {
    Clean,
    Infected(String),
}

const CHUNK: usize = 64 * 1024;

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, data: &[u8]) -> Result<Scan, ClamdError> {
    s.write_all(b"zINSTREAM\0").await?;
    for chunk in data.chunks(CHUNK) {
        s.write_all(&(chunk.len() as u32).to_be_bytes()).await?;
        s.write_all(chunk).await?;
    }
    s.write_all(&[0, 0, 0, 0]).await?;
    s.flush().await?;
    let mut reply = Vec::new();
    s.take(4096).read_to_end(&mut reply).await?;
    parse(&reply)
}

fn parse(reply: &[u8]) -> Result<Scan, ClamdError> {
    let text = String::from_utf8_lossy(reply).trim_end_matches(['\0', '\n']).to_string();
    let verdict = text.strip_prefix("stream: ").ok_or_else(|| ClamdError::Unexpected(text.clone()))?;
    if verdict == "OK" {
        Ok(Scan::Clean)
    } else if let Some(name) = verdict.strip_suffix(" FOUND") {
        Ok(Scan::Infected(name.to_string()))
    } else {
        Err(ClamdError::Unexpected(text))
    }
}

/// Scans `data` (at most `max` bytes of it) with the clamd at `addr` (a socket path or host:port).
pub async fn scan(addr: &str, data: &[u8], max: usize, timeout: Duration) -> Result<Scan, ClamdError> {
    let data = &data[..data.len().min(max)];
    let work = async {
        if addr.starts_with('/') {
            let s = tokio::net::UnixStream::connect(addr).await.map_err(|e| ClamdError::Connect(addr.into(), e))?;
            talk(s, data).await
        } else {
            let s = tokio::net::TcpStream::connect(addr).await.map_err(|e| ClamdError::Connect(addr.into(), e))?;
            talk(s, data).await
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| ClamdError::Timeout(addr.into(), timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse(b"stream: OK\0").unwrap(), Scan::Clean);
        assert_eq!(parse(b"stream: Eicar-Signature FOUND\0").unwrap(), Scan::Infected("Eicar-Signature".into()));
        assert!(parse(b"INSTREAM size limit exceeded. ERROR\0").is_err());
        assert!(parse(b"").is_err());
    }

    #[tokio::test]
    async fn unreachable_clamd_is_an_error() {
        let e = scan("/nonexistent/clamd.sock", b"x", 10, Duration::from_secs(2)).await.unwrap_err();
        assert!(e.to_string().contains("cannot reach clamd"), "{e}");
    }
}
