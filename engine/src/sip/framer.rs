//! Splitting a reliable byte stream (TCP/TLS) into SIP messages by Content-Length
//! (RFC 3261 §18.3), with RFC 5626 §4.4.1 CRLF keep-alives.

use super::parse::MAX_HEADER_BYTES;

/// Largest body accepted on a stream.
pub const MAX_STREAM_BODY: usize = 1 << 20;

/// One unit taken off the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one complete message (give them to the endpoint with `Transport::Tcp`).
    Message(Vec<u8>),
    /// A double-CRLF ping: answer with a single CRLF ("pong") on the same connection.
    KeepAlive,
}

/// The stream cannot be re-synchronised: close the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("header section larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("missing or unreadable Content-Length")]
    BadContentLength,
}

/// Buffers stream bytes and yields whole messages. One framer per connection.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// How far the search for the end of the header section got (avoids rescanning).
    scanned: usize,
    max_body: usize,
    failed: Option<FrameError>,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new()
    }
}

impl StreamFramer {
    pub fn new() -> StreamFramer {
        StreamFramer { buf: Vec::new(), scanned: 0, max_body: MAX_STREAM_BODY, failed: None }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an error every call
    /// returns the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.next_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }

    fn next_inner(&mut self) -> Result<Option<Frame>, FrameError> {
        // Keep-alives and stray line ends between messages.
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.consume(4);
                return Ok(Some(Frame::KeepAlive));
            }
            match self.buf.as_slice() {
                [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Ok(None),
                [b'\r', b'\n', ..] => self.consume(2),
                [b'\n', ..] => self.consume(1),
                _ => break,
            }
        }
        // End of the header section: the first empty line.
        let from = self.scanned.saturating_sub(3);
        let end = self.buf[from..]
            .windows(2)
            .enumerate()
            .find_map(|(i, w)| {
                let i = from + i;
                if w == b"\n\n" {
                    Some((i + 1, i + 2))
                } else if w == b"\n\r" && self.buf.get(i + 2) == Some(&b'\n') {
                    Some((i + 1, i + 3))
                } else {
                    None
                }
            });
        let Some((head_end, body_start)) = end else {
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_HEADER_BYTES {
                return Err(FrameError::HeadersTooLarge(MAX_HEADER_BYTES));
            }
            return Ok(None);
        };
        if head_end > MAX_HEADER_BYTES {
            return Err(FrameError::HeadersTooLarge(MAX_HEADER_BYTES));
        }
        let length = content_length(&self.buf[..head_end])?;
        if length > self.max_body {
            return Err(FrameError::BodyTooLarge(self.max_body));
        }
        let total = body_start + length;
        if self.buf.len() < total {
            self.scanned = head_end;
            return Ok(None);
        }
        let message = self.buf[..total].to_vec();
        self.consume(total);
        Ok(Some(Frame::Message(message)))
    }
}

/// Content-Length from a raw header section (0 when absent, as RFC 3261 §18.3 lets a stream
/// receiver assume nothing better; conflicting or unreadable values are fatal).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).map_err(|_| FrameError::BadContentLength)?;
            let n: usize = value.parse().map_err(|_| FrameError::BadContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(FrameError::BadContentLength);
            }
            found = Some(n);
        }
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::testutil::{wire, TestRng};

    fn msg(body: &str) -> Vec<u8> {
        wire(&format!(
            "OPTIONS sip:x@h SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c\nCSeq: 1 OPTIONS\nl: *\n\n{body}"
        ))
    }

    fn drain(f: &mut StreamFramer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() {
            out.push(fr);
        }
        out
    }

    #[test]
    fn two_messages_in_one_read() {
        let (a, b) = (msg("first"), msg(""));
        let mut f = StreamFramer::new();
        f.push(&[a.clone(), b.clone()].concat());
        assert_eq!(drain(&mut f), vec![Frame::Message(a), Frame::Message(b)]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn one_message_split_over_reads_at_every_point() {
        let a = msg("v=0\nm=audio 1 RTP/AVP 0\n");
        for split in 0..a.len() {
            let mut f = StreamFramer::new();
            f.push(&a[..split]);
            assert_eq!(drain(&mut f), vec![], "split {split}");
            f.push(&a[split..]);
            assert_eq!(drain(&mut f), vec![Frame::Message(a.clone())], "split {split}");
        }
        // Byte by byte.
        let mut f = StreamFramer::new();
        let mut got = Vec::new();
        for b in a.iter().chain(a.iter()) {
            f.push(&[*b]);
            got.extend(drain(&mut f));
        }
        assert_eq!(got, vec![Frame::Message(a.clone()), Frame::Message(a)]);
    }

    #[test]
    fn keepalives_and_stray_line_ends() {
        let a = msg("");
        let mut f = StreamFramer::new();
        f.push(b"\r\n\r\n");
        f.push(&a);
        f.push(b"\r\n");
        f.push(&a);
        assert_eq!(drain(&mut f), vec![Frame::KeepAlive, Frame::Message(a.clone()), Frame::Message(a)]);
        f.push(b"\r\n");
        assert_eq!(drain(&mut f), vec![]);
        f.push(b"\r\n");
        assert_eq!(drain(&mut f), vec![Frame::KeepAlive]);
    }

    #[test]
    fn fatal_errors() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: nope\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FrameError::BadContentLength));
        assert_eq!(f.next_frame(), Err(FrameError::BadContentLength));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FrameError::BadContentLength));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n");
        assert!(matches!(f.next_frame(), Err(FrameError::BodyTooLarge(_))));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:x SIP/2.0\r\nX: ");
        f.push(&vec![b'a'; MAX_HEADER_BYTES + 1]);
        assert!(matches!(f.next_frame(), Err(FrameError::HeadersTooLarge(_))));
    }

    #[test]
    fn random_chunking_and_garbage_never_panic() {
        let stream: Vec<u8> = (0..20).flat_map(|i| msg(&"x".repeat(i * 7))).collect();
        let mut rng = TestRng(7);
        for _ in 0..50 {
            let mut f = StreamFramer::new();
            let mut pos = 0;
            let mut n = 0;
            while pos < stream.len() {
                let step = 1 + rng.below(300);
                let end = (pos + step).min(stream.len());
                f.push(&stream[pos..end]);
                pos = end;
                n += drain(&mut f).len();
            }
            assert_eq!(n, 20);
        }
        for _ in 0..2000 {
            let mut f = StreamFramer::new();
            let junk: Vec<u8> = (0..rng.below(400)).map(|_| b"\r\n:lL0123456789 x"[rng.below(17)]).collect();
            f.push(&junk);
            while let Ok(Some(_)) = f.next_frame() {}
        }
    }
}
