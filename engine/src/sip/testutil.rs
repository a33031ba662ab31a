//! Helpers for tests: turning readable message text into wire bytes, and a tiny deterministic RNG.

/// Converts test text to wire form (text with CRLF is taken as is): LF line ends become CRLF, and a `Content-Length: *` (or
/// `l: *`) line gets the real body length. The header section ends at the first empty line.
pub fn wire(text: &str) -> Vec<u8> {
    if text.contains("\r\n") {
        return text.as_bytes().to_vec(); // already in wire form
    }
    let text = text.trim_start_matches('\n');
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let body = body.replace('\n', "\r\n");
    let mut out = String::new();
    for line in head.lines() {
        if line == "Content-Length: *" || line == "l: *" {
            let name = line.split(':').next().unwrap_or("Content-Length");
            out.push_str(&format!("{name}: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// A deterministic xorshift generator for fuzz-style tests.
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
}
