//! Message parser (RFC 3261 §7, §25) for one datagram or one framed stream message.
//!
//! Tolerant where real peers are sloppy (LF-only line ends, folded headers, white space before
//! the colon, compact names, a missing reason phrase, a missing final blank line) and strict
//! where it matters for routing. It never panics: every failure is a [`ParseError`] saying
//! whether enough was read to answer with 400 (or 505) or whether the input must be dropped.

use super::header::Headers;
use super::message::{Message, Request, Response};
use super::method::Method;
use super::text::{is_token, starts_with_ci};
use super::uri::Uri;

/// Largest header section accepted (a UDP datagram cannot exceed 64 KiB anyway).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header lines accepted in one message.
pub const MAX_HEADER_LINES: usize = 256;

/// Why a message could not be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A request that can (and should) be answered with `status` and `reason` (RFC 3261 §8.2,
    /// §16.3): the start line was a request, the top Via is readable (the response can be
    /// routed), and From, To, Call-ID and CSeq are present (the peer can match it). `headers`
    /// holds every header line that could be read, for building the response.
    #[error("bad request: {status} {reason}")]
    Respond { status: u16, reason: String, headers: Headers },
    /// Not answerable (a response, an ACK, garbage, no usable Via, a missing From/To/Call-ID or
    /// unreadable CSeq): drop it (RFC 3261 §18.3).
    #[error("dropped: {0}")]
    Drop(String),
}

impl ParseError {
    /// Whether a response should be sent.
    pub fn can_respond(&self) -> bool {
        matches!(self, ParseError::Respond { .. })
    }
}

enum StartLine {
    Request { method: Method, uri: Result<Uri, ()>, version_ok: bool },
    Response { status: u16, reason: String },
}

/// Where the header section ends: (end of headers, start of body).
fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\n' {
            match (data.get(i + 1), data.get(i + 2)) {
                (Some(b'\n'), _) => return Some((i + 1, i + 2)),
                (Some(b'\r'), Some(b'\n')) => return Some((i + 1, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if starts_with_ci(line, "SIP/") {
        let (version, rest) = line.split_once(' ').ok_or_else(|| ParseError::Drop("bad status line".into()))?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::Drop("response with unsupported SIP version".into()));
        }
        let rest = rest.trim_start();
        let (code, reason) = match rest.split_once(' ') {
            Some((c, r)) => (c, r.trim()),
            None => (rest.trim_end(), ""),
        };
        let status: u16 = match code.parse() {
            Ok(s) if code.len() == 3 && (100..=699).contains(&s) => s,
            _ => return Err(ParseError::Drop("bad status code".into())),
        };
        return Ok(StartLine::Response { status, reason: reason.to_string() });
    }
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let method = parts
        .first()
        .and_then(|m| Method::parse(m))
        .ok_or_else(|| ParseError::Drop("bad request line".into()))?;
    let version = parts.last().copied().unwrap_or("");
    if parts.len() < 3 || !starts_with_ci(version, "SIP/") {
        return Err(ParseError::Drop("not a SIP request line".into()));
    }
    let uri = if parts.len() == 3 { Uri::parse(parts[1]).map_err(|_| ()) } else { Err(()) };
    Ok(StartLine::Request { method, uri, version_ok: version.eq_ignore_ascii_case("SIP/2.0") })
}

/// Splits the header section into logical lines (unfolding continuation lines).
fn logical_lines(head: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(prev) = out.last_mut()
        {
            prev.push(' ');
            prev.push_str(line.trim());
            continue;
        }
        out.push(line.to_string());
    }
    out
}

/// Parses one SIP message.
pub fn parse_message(bytes: &[u8]) -> Result<Message, ParseError> {
    let start = bytes.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(bytes.len());
    let data = &bytes[start..];
    if data.is_empty() {
        return Err(ParseError::Drop("empty message".into()));
    }
    let (head_end, body_start) = find_header_end(data).unwrap_or((data.len(), data.len()));
    if head_end > MAX_HEADER_BYTES {
        return Err(ParseError::Drop("header section too large".into()));
    }
    let head = String::from_utf8_lossy(&data[..head_end]);
    let mut lines = logical_lines(&head).into_iter();
    let first = lines.next().ok_or_else(|| ParseError::Drop("no start line".into()))?;
    let start_line = parse_start_line(&first)?;

    // Header lines: keep every readable one, remember the first problem.
    let mut headers = Headers::new();
    let mut problem: Option<(u16, String)> = None;
    let mut count = 0;
    for line in lines {
        count += 1;
        if count > MAX_HEADER_LINES {
            return Err(ParseError::Drop("too many header lines".into()));
        }
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim_end()) => {
                headers.push(name.trim_end(), value.trim());
            }
            _ => {
                problem.get_or_insert((400, "Malformed Header Line".into()));
            }
        }
    }

    // Body framing (RFC 3261 §18.3).
    let available = &data[body_start.min(data.len())..];
    let lengths: Vec<_> = headers.get_all("Content-Length").map(|v| v.trim().parse::<usize>()).collect();
    let body = match lengths.first() {
        None => available.to_vec(),
        Some(&Ok(n)) if lengths.iter().all(|m| *m == Ok(n)) => {
            if n > available.len() {
                problem.get_or_insert((400, "Body Shorter Than Content-Length".into()));
                available.to_vec()
            } else {
                available[..n].to_vec()
            }
        }
        Some(_) => {
            problem.get_or_insert((400, "Bad Content-Length Header".into()));
            available.to_vec()
        }
    };

    match start_line {
        StartLine::Response { status, reason } => {
            if let Some((_, why)) = problem {
                return Err(ParseError::Drop(format!("response: {why}")));
            }
            if headers.top_via().is_none()
                || headers.cseq().is_none()
                || headers.call_id().is_none()
                || headers.from().is_none()
                || headers.to().is_none()
            {
                return Err(ParseError::Drop("response without usable Via/From/To/Call-ID/CSeq".into()));
            }
            Ok(Message::Response(Response { status, reason, headers, body }))
        }
        StartLine::Request { method, uri, version_ok } => {
            if headers.top_via().is_none() {
                return Err(ParseError::Drop("request without usable Via".into()));
            }
            let cseq = headers.cseq();
            if method == Method::Ack || cseq.as_ref().is_some_and(|c| c.method == Method::Ack) {
                // Never answer an ACK.
                if let Some((_, why)) = problem {
                    return Err(ParseError::Drop(format!("ACK: {why}")));
                }
            }
            // A response must be routable (Via) and matchable (From, To, Call-ID, CSeq): without
            // all five it would be as malformed as the request, so such requests are dropped.
            let missing = [
                ("From", headers.get("From").is_none()),
                ("To", headers.get("To").is_none()),
                ("Call-ID", headers.call_id().is_none()),
                ("CSeq", cseq.is_none()),
            ]
            .into_iter()
            .find(|(_, missing)| *missing);
            if let Some((name, _)) = missing {
                let what = if headers.get(name).is_some() { "unreadable" } else { "missing" };
                return Err(ParseError::Drop(format!("request with {what} {name} header")));
            }
            let mut problem = if !version_ok {
                Some((505, "Version Not Supported".to_string()))
            } else if uri.is_err() {
                Some((400, "Bad Request-URI".to_string()))
            } else {
                problem
            };
            for (name, readable) in [("From", headers.from().is_some()), ("To", headers.to().is_some())] {
                if !readable {
                    problem.get_or_insert((400, format!("Bad {name} Header")));
                }
            }
            if let Some(c) = &cseq
                && c.method != method
            {
                problem.get_or_insert((400, "CSeq Method Does Not Match Request".into()));
            }
            if headers.get("Max-Forwards").is_some() && headers.max_forwards().is_none() {
                problem.get_or_insert((400, "Bad Max-Forwards Header".into()));
            }
            match (problem, uri) {
                (None, Ok(uri)) => Ok(Message::Request(Request { method, uri, headers, body })),
                (Some((status, reason)), _) if method != Method::Ack => {
                    Err(ParseError::Respond { status, reason, headers })
                }
                (Some((_, why)), _) => Err(ParseError::Drop(format!("ACK: {why}"))),
                (None, Err(())) => Err(ParseError::Drop("bad Request-URI".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests;
