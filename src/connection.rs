//! A client connection: plain or TLS, with a read buffer sized for line protocols.
//!
//! Shared by SMTP now and IMAP/POP3 later. Reads are bounded (a line longer
//! than the limit is an error, not an allocation) and time-limited; writes are
//! buffered and flushed when the peer has no more pipelined input waiting.
//! Thousands of sessions sit idle at once, so buffers are small while waiting
//! and a large one (a long command, a large response) is given back once used.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

#[derive(Debug, Error)]
pub enum ConnError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("the peer sent nothing for {0:?}")]
    Timeout(Duration),
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    #[error("network error: {0}")]
    Io(#[from] io::Error),
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Outbound connections (remote delivery) after STARTTLS.
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while a STARTTLS handshake owns the socket.
    Detached,
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Detached => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Detached => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
}

pub struct Connection {
    stream: Stream,
    rbuf: Vec<u8>,
    /// Start of unread data in `rbuf`.
    rpos: usize,
    wbuf: Vec<u8>,
    /// IMAP COMPRESS=DEFLATE (RFC 4978), once the client turned it on.
    deflate: Option<Box<Deflate>>,
    /// The last read brought a full small buffer: the peer is sending data (a
    /// DATA body, a literal), so reads are large and the buffer is kept.
    streaming: bool,
}

/// Raw deflate both ways. `rbuf` holds inflated bytes; compressed input not
/// inflated yet waits in `pending`, so one small packet cannot fill memory
/// with what it expands to.
struct Deflate {
    out: flate2::Compress,
    inp: flate2::Decompress,
    pending: Vec<u8>,
}

/// At most this much is inflated per read; the rest waits its turn.
const INFLATE_STEP: usize = 4 * READ_CHUNK;

impl Deflate {
    /// Inflates waiting input into `out`, up to INFLATE_STEP bytes.
    fn inflate(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        while !self.pending.is_empty() && out.len() - start < INFLATE_STEP {
            out.reserve(READ_CHUNK);
            let (before_in, before_out) = (self.inp.total_in(), out.len());
            self.inp
                .decompress_vec(&self.pending, out, flate2::FlushDecompress::Sync)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad compressed data: {e}")))?;
            let used = (self.inp.total_in() - before_in) as usize;
            self.pending.drain(..used);
            if used == 0 && out.len() == before_out {
                break;
            }
        }
        Ok(())
    }

    fn deflate(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut pos = 0;
        loop {
            out.reserve(READ_CHUNK);
            let before_in = self.out.total_in();
            self.out.compress_vec(&data[pos..], &mut out, flate2::FlushCompress::Sync).map_err(io::Error::other)?;
            pos += (self.out.total_in() - before_in) as usize;
            // Done when all input is in and the sync flush fit in the space left.
            if pos >= data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

const READ_CHUNK: usize = 16 * 1024;
/// What a read for a new command reserves: a command line is short, and
/// thousands of sessions wait in IDLE with this buffer.
const FIRST_READ: usize = 1024;
/// Buffers larger than this are given back once empty, so a session that
/// fetched a large message does not keep its buffer while idle.
const KEEP: usize = 4 * 1024;

impl Connection {
    pub fn new(stream: Stream) -> Connection {
        Connection { stream, rbuf: Vec::new(), rpos: 0, wbuf: Vec::new(), deflate: None, streaming: false }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_) | Stream::ClientTls(_))
    }

    /// True when the peer has pipelined bytes we have not consumed yet.
    pub fn has_buffered_input(&self) -> bool {
        self.rpos < self.rbuf.len()
    }

    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.wbuf.is_empty() {
            match self.deflate.as_mut() {
                Some(d) => {
                    let packed = d.deflate(&self.wbuf)?;
                    self.stream.write_all(&packed).await?;
                }
                None => self.stream.write_all(&self.wbuf).await?,
            }
            self.wbuf.clear();
            if self.wbuf.capacity() > KEEP {
                self.wbuf = Vec::new();
            }
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// Sends queued output now unless more pipelined commands are already waiting.
    pub async fn flush_if_idle(&mut self) -> Result<(), ConnError> {
        if !self.has_complete_line() {
            self.flush().await?;
        }
        Ok(())
    }

    fn has_complete_line(&self) -> bool {
        self.rbuf[self.rpos..].contains(&b'\n')
    }

    /// Reads once more into `rbuf`. `bulk` says the caller expects data (a
    /// DATA body, a literal) rather than a command: the read is large and the
    /// large buffer is kept between reads.
    async fn fill(&mut self, timeout: Duration, bulk: bool) -> Result<(), ConnError> {
        let bulk = bulk || self.streaming;
        if self.rpos > 0 && self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            if !bulk && self.rbuf.capacity() > KEEP {
                self.rbuf = Vec::new();
            }
        } else if self.rpos > READ_CHUNK {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        if let Some(d) = self.deflate.as_mut() {
            // Input already here but not inflated yet comes first.
            if !d.pending.is_empty() {
                d.inflate(&mut self.rbuf)?;
                if self.rpos < self.rbuf.len() {
                    return Ok(());
                }
            }
        }
        // `read_buf` appends only what arrived: if the caller drops this future
        // (IDLE waits on the store notifier too), the buffer is left as it was.
        let step = if bulk || self.rpos < self.rbuf.len() { READ_CHUNK } else { FIRST_READ };
        let into = match self.deflate.as_mut() {
            Some(d) => &mut d.pending,
            None => &mut self.rbuf,
        };
        // A connection waiting for its next command (most of them, most of the
        // time: IDLE) holds a small buffer; one that is being sent data, a large one.
        into.reserve(step);
        let room = into.capacity() - into.len();
        let n = match tokio::time::timeout(timeout, self.stream.read_buf(into)).await {
            Err(_) => return Err(ConnError::Timeout(timeout)),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return Err(ConnError::Closed);
        }
        self.streaming = n == room;
        if let Some(d) = self.deflate.as_mut() {
            d.inflate(&mut self.rbuf)?;
        }
        Ok(())
    }

    /// Turns on COMPRESS=DEFLATE (RFC 4978) after the tagged OK was queued:
    /// that OK goes out plain, everything after it compressed both ways.
    /// Bytes the client sent after its COMPRESS command are compressed already.
    pub async fn start_deflate(&mut self) -> Result<(), ConnError> {
        self.flush().await?;
        let early = self.rbuf.split_off(self.rpos);
        self.rbuf.clear();
        self.rpos = 0;
        let mut d = Box::new(Deflate {
            out: flate2::Compress::new(flate2::Compression::fast(), false),
            inp: flate2::Decompress::new(false),
            pending: early,
        });
        d.inflate(&mut self.rbuf)?;
        self.deflate = Some(d);
        Ok(())
    }

    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Reads one line including its LF. A line over `max` bytes is consumed to its
    /// end and reported as `LineTooLong`, so the session can answer and go on.
    pub async fn read_line(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>, ConnError> {
        let mut overlong = false;
        loop {
            let pending = &self.rbuf[self.rpos..];
            if let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line = pending[..=i].to_vec();
                self.rpos += i + 1;
                if overlong || line.len() > max {
                    return Err(ConnError::LineTooLong(max));
                }
                return Ok(line);
            }
            if pending.len() > max {
                // Drop what we have; keep reading until the end of this line.
                overlong = true;
                self.rpos = self.rbuf.len();
            }
            self.fill(timeout, false).await?;
        }
    }

    /// Takes whatever bytes are buffered, reading once if none are: the next
    /// command's bytes, which may be short (IMAP frames its own commands).
    pub async fn read_some(&mut self, timeout: Duration) -> Result<Vec<u8>, ConnError> {
        self.take_buffered(timeout, false).await
    }

    /// As `read_some`, for data known to be coming in bulk (a DATA body, a
    /// literal): reads are large from the first one, not after the first fills up.
    pub async fn read_bulk(&mut self, timeout: Duration) -> Result<Vec<u8>, ConnError> {
        self.take_buffered(timeout, true).await
    }

    async fn take_buffered(&mut self, timeout: Duration, bulk: bool) -> Result<Vec<u8>, ConnError> {
        if !self.has_buffered_input() {
            self.fill(timeout, bulk).await?;
        }
        let out = self.rbuf[self.rpos..].to_vec();
        self.rpos = self.rbuf.len();
        Ok(out)
    }

    /// Hands exactly `n` bytes to `take` as they arrive (a BDAT chunk),
    /// never holding more than one read of them at once.
    pub async fn read_counted(
        &mut self,
        mut n: usize,
        timeout: Duration,
        mut take: impl FnMut(&[u8]),
    ) -> Result<(), ConnError> {
        while n > 0 {
            if !self.has_buffered_input() {
                self.fill(timeout, true).await?;
            }
            let k = (self.rbuf.len() - self.rpos).min(n);
            take(&self.rbuf[self.rpos..self.rpos + k]);
            self.rpos += k;
            n -= k;
        }
        Ok(())
    }

    /// Pushes back bytes read too far (the start of the next pipelined command).
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut rest = bytes.to_vec();
        rest.extend_from_slice(&self.rbuf[self.rpos..]);
        self.rbuf = rest;
        self.rpos = 0;
    }

    /// Upgrades to TLS. Any plaintext the client pipelined after STARTTLS is
    /// discarded (CVE-2011-0411: it must not be executed as if it came under TLS).
    pub async fn start_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> Result<(), ConnError> {
        if self.deflate.is_some() {
            return Err(ConnError::Tls(io::Error::other("TLS cannot start inside a compressed stream")));
        }
        self.flush().await?;
        self.rbuf.clear();
        self.rpos = 0;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Detached) else {
            return Err(ConnError::Tls(io::Error::other("TLS is already active")));
        };
        let tls = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp))
            .await
            .map_err(|_| ConnError::Timeout(Duration::from_secs(30)))?
            .map_err(ConnError::Tls)?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Client side of STARTTLS, for remote delivery.
    pub async fn start_tls_client(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        server: rustls_pki_types::ServerName<'static>,
    ) -> Result<(), ConnError> {
        self.flush().await?;
        self.rbuf.clear();
        self.rpos = 0;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Detached) else {
            return Err(ConnError::Tls(io::Error::other("TLS is already active")));
        };
        let tls = tokio::time::timeout(Duration::from_secs(30), connector.connect(server, tcp))
            .await
            .map_err(|_| ConnError::Timeout(Duration::from_secs(30)))?
            .map_err(ConnError::Tls)?;
        self.stream = Stream::ClientTls(Box::new(tls));
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Connection, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let peer = TcpStream::connect(l.local_addr().expect("address")).await.expect("connect");
        let (ours, _) = l.accept().await.expect("accept");
        (Connection::new(Stream::Plain(ours)), peer)
    }

    /// An idle session keeps small buffers: what a large command or response
    /// needed is given back once it is done with (issue 15: memory per session).
    #[tokio::test]
    async fn buffers_shrink_after_large_traffic() {
        let (mut c, mut peer) = pair().await;
        let t = Duration::from_secs(5);
        let mut long = vec![b'a'; 100_000];
        long.push(b'\n');
        let writer = tokio::spawn(async move {
            peer.write_all(&long).await.expect("write");
            peer.write_all(b"b IDLE\r\n").await.expect("write");
            peer
        });
        assert_eq!(c.read_line(200_000, t).await.expect("long line").len(), 100_001);
        assert!(c.rbuf.capacity() > KEEP, "a long line needed a large buffer");
        assert_eq!(c.read_line(200_000, t).await.expect("short line"), b"b IDLE\r\n");
        let mut peer = writer.await.expect("writer");
        peer.write_all(b"DONE\r\n").await.expect("write");
        assert_eq!(c.read_line(200_000, t).await.expect("waited-for line"), b"DONE\r\n");
        assert!(c.rbuf.capacity() <= KEEP, "kept {} bytes after the long line", c.rbuf.capacity());

        c.queue(&vec![b'x'; 100_000]);
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 100_000];
            peer.read_exact(&mut got).await.expect("read");
        });
        c.flush().await.expect("flush");
        assert!(c.wbuf.capacity() <= KEEP, "kept {} bytes after a large response", c.wbuf.capacity());
        reader.await.expect("reader");
    }

    /// A reader that knows data is coming (a DATA body) asks for it in large
    /// reads from the first one; a read for a command asks for little (issue
    /// 15: 100 KB bodies read 1 KiB at a time slowed intake).
    #[tokio::test]
    async fn bulk_reads_are_large_from_the_first() {
        let t = Duration::from_secs(5);
        for bulk in [false, true] {
            let (mut c, mut peer) = pair().await;
            // Small enough for loopback's socket buffers: all of it waits before the first read.
            peer.write_all(&vec![b'x'; 64 * 1024]).await.expect("write");
            let first = if bulk { c.read_bulk(t).await } else { c.read_some(t).await }.expect("read");
            assert_eq!(first.len() > FIRST_READ, bulk, "bulk {bulk}: the first read took {} bytes", first.len());
            let mut got = first.len();
            while got < 64 * 1024 {
                got += c.read_bulk(t).await.expect("bulk read").len();
            }
            assert_eq!(got, 64 * 1024);
        }
    }
}
