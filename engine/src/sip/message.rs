//! SIP requests and responses (RFC 3261 §7) and their serialization.

use std::fmt::Write as _;

use super::header::Headers;
use super::method::Method;
use super::uri::Uri;

/// A message body with its media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// Full Content-Type value, e.g. `application/sdp`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Body {
    pub fn new(content_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Body {
        Body { content_type: content_type.into(), bytes: bytes.into() }
    }

    /// An `application/sdp` body.
    pub fn sdp(text: impl Into<Vec<u8>>) -> Body {
        Body::new("application/sdp", text)
    }

    /// Whether the media type (parameters ignored) is `application/sdp`.
    pub fn is_sdp(&self) -> bool {
        self.content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/sdp")
    }

    /// The body as text, if it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Writes headers (skipping any stale Content-Length), a fresh Content-Length and the body.
fn write_rest(out: &mut String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let _ = write!(out, "{}: {}\r\n", h.name, h.value);
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn body_of(headers: &Headers, body: &[u8]) -> Option<Body> {
    if body.is_empty() {
        return None;
    }
    let content_type = headers.get("Content-Type").unwrap_or("application/octet-stream").trim().to_string();
    Some(Body { content_type, bytes: body.to_vec() })
}

/// Sets body and Content-Type from an optional [`Body`].
fn set_body(headers: &mut Headers, body_field: &mut Vec<u8>, body: Option<Body>) {
    match body {
        Some(b) => {
            headers.set("Content-Type", b.content_type);
            *body_field = b.bytes;
        }
        None => {
            headers.remove("Content-Type");
            body_field.clear();
        }
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Request {
        Request { method, uri, headers: Headers::new(), body: Vec::new() }
    }

    /// Wire form; Content-Length always reflects the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.method, self.uri);
        write_rest(&mut out, &self.headers, &self.body)
    }

    /// The body with its Content-Type, if there is one.
    pub fn body(&self) -> Option<Body> {
        body_of(&self.headers, &self.body)
    }

    pub fn set_body(&mut self, body: Option<Body>) {
        set_body(&mut self.headers, &mut self.body, body);
    }
}

impl Response {
    pub fn new(status: u16, reason: impl Into<String>) -> Response {
        Response { status, reason: reason.into(), headers: Headers::new(), body: Vec::new() }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        let reason = self.reason.replace(['\r', '\n'], " ");
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.status, reason);
        write_rest(&mut out, &self.headers, &self.body)
    }

    pub fn body(&self) -> Option<Body> {
        body_of(&self.headers, &self.body)
    }

    pub fn set_body(&mut self, body: Option<Body>) {
        set_body(&mut self.headers, &mut self.body, body);
    }

    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// Standard reason phrases (RFC 3261 §21 and extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirected",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_fresh_content_length() {
        let mut r = Request::new(Method::Invite, Uri::parse("sip:meet@127.0.0.1").unwrap());
        r.headers.push("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
        r.headers.push("Content-Length", "999");
        r.set_body(Some(Body::sdp("v=0\r\n")));
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert_eq!(
            text,
            "INVITE sip:meet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"
        );
        assert!(r.body().unwrap().is_sdp());
        r.set_body(None);
        assert!(r.body().is_none());
        assert!(!r.headers.contains("Content-Type"));

        let mut resp = Response::new(200, "O\r\nK");
        resp.headers.push("CSeq", "1 INVITE");
        assert_eq!(resp.to_bytes(), b"SIP/2.0 200 O  K\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(reason_phrase(487), "Request Terminated");
        assert_eq!(reason_phrase(499), "Client Error");
    }
}
