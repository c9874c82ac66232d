//! The small HTTPS client Hato needs for MTA-STS policies and ACME: one
//! request per connection, HTTP/1.0 (so no server chunks its answer or keeps
//! the connection), certificate verified by the connector given, answer
//! bounded in size and time. Not a general HTTP client; it need not be.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Debug, Error)]
pub enum HttpsError {
    #[error("{url} is not an https:// URL")]
    Url { url: String },
    #[error("cannot reach {host}: {message}")]
    Connect { host: String, message: String },
    #[error("{host} did not answer within {secs} s")]
    Timeout { host: String, secs: u64 },
    #[error("{host} sent an answer that is not HTTP ({why})")]
    Answer { host: String, why: String },
}

/// Where a request goes: host name (for SNI, the certificate and `Host:`),
/// port and path.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, HttpsError> {
        let bad = || HttpsError::Url { url: url.into() };
        let rest = url.strip_prefix("https://").ok_or_else(bad)?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let port_of = |p: &str| p.parse::<u16>().map_err(|_| bad());
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            // An IPv6 literal: [addr] or [addr]:port.
            let (h, after) = bracketed.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, 443),
                None => return Err(bad()),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (authority, 443),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Target { host: host.to_string(), port, path: path.to_string() })
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One request. `addr`: where to connect (None: resolve the host with the
/// system's resolver); `body` with its content type for POST.
pub async fn request(
    tls: &TlsConnector,
    addr: Option<SocketAddr>,
    method: &str,
    target: &Target,
    body: Option<(&str, &[u8])>,
    limit: usize,
    timeout: Duration,
) -> Result<Response, HttpsError> {
    let host = target.host.clone();
    let exchange = async {
        let connect_err = |message: String| HttpsError::Connect { host: host.clone(), message };
        let tcp = match addr {
            Some(a) => TcpStream::connect(a).await,
            None => TcpStream::connect((host.as_str(), target.port)).await,
        }
        .map_err(|e| connect_err(e.to_string()))?;
        let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| connect_err(e.to_string()))?;
        let mut stream = tls.connect(name, tcp).await.map_err(|e| connect_err(format!("TLS: {e}")))?;
        // The port belongs in Host unless it is the default: servers build their URLs from it.
        let host_part = if target.host.contains(':') { format!("[{}]", target.host) } else { target.host.clone() };
        let authority = if target.port == 443 { host_part } else { format!("{host_part}:{}", target.port) };
        let mut req = format!(
            "{method} {} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: Hato/{}\r\nAccept: */*\r\n",
            target.path,
            env!("CARGO_PKG_VERSION")
        );
        if let Some((kind, b)) = body {
            req.push_str(&format!("Content-Type: {kind}\r\nContent-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        if let Some((_, b)) = body {
            out.extend_from_slice(b);
        }
        stream.write_all(&out).await.map_err(|e| connect_err(e.to_string()))?;
        let mut answer = Vec::new();
        match (&mut stream).take(limit as u64 + 16 * 1024).read_to_end(&mut answer).await {
            Ok(_) => {}
            // Many servers close without TLS close_notify; Content-Length tells a cut answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
            Err(e) => return Err(connect_err(e.to_string())),
        }
        parse(&host, &answer, method == "HEAD")
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpsError::Timeout { host: target.host.clone(), secs: timeout.as_secs() })?
}

fn parse(host: &str, answer: &[u8], head_only: bool) -> Result<Response, HttpsError> {
    let bad = |why: &str| HttpsError::Answer { host: host.into(), why: why.into() };
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let response = Response { status, headers, body: answer[split + 4..].to_vec() };
    if !head_only
        && let Some(n) = response.header("content-length").and_then(|v| v.parse::<usize>().ok())
        && n != response.body.len()
    {
        return Err(bad("the answer was cut short"));
    }
    Ok(response)
}

/// Exercises the answer parser for `cargo fuzz` (fuzz/fuzz_targets/dns_records.rs).
#[doc(hidden)]
pub fn fuzz_answer(answer: &[u8]) {
    let _ = parse("fuzz", answer, false);
    let _ = Target::parse(&String::from_utf8_lossy(answer));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers() {
        let t = Target::parse("https://acme.example:14000/dir?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("acme.example", 14000, "/dir?x=1"));
        assert_eq!(Target::parse("https://mta-sts.example.com").unwrap().path, "/");
        assert!(Target::parse("http://plain.example/").is_err() && Target::parse("https://:1/").is_err());
        let v6 = Target::parse("https://[2001:db8::1]:8443/x").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 8443));
        assert_eq!(Target::parse("https://[2001:db8::1]/").unwrap().port, 443);
        assert!(Target::parse("https://host:notaport/").is_err());
        let r = parse("h", b"HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nContent-Length: 2\r\n\r\n{}", false).unwrap();
        assert_eq!((r.status, r.header("replay-nonce"), r.body.as_slice()), (201, Some("abc"), &b"{}"[..]));
        assert!(parse("h", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", false).is_err());
        assert!(parse("h", b"garbage", false).is_err());
    }
}
