//! SIP request methods (RFC 3261 §7.1 and the extension RFCs). Methods are case-sensitive.

use std::fmt;

/// A SIP method. Unknown (but syntactically valid) methods are kept in [`Method::Other`] so the
/// endpoint can answer them with 405.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(String),
}

impl Method {
    /// Parses a method token; `None` if it is not an RFC 3261 token.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other if super::text::is_token(other) => Method::Other(other.to_string()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_invalid() {
        assert_eq!(Method::parse("INVITE"), Some(Method::Invite));
        assert_eq!(Method::parse("FOO"), Some(Method::Other("FOO".into())));
        // Methods are case-sensitive: "invite" is an extension method, not INVITE.
        assert_eq!(Method::parse("invite"), Some(Method::Other("invite".into())));
        assert_eq!(Method::parse("IN VITE"), None);
        assert_eq!(Method::parse(""), None);
        assert_eq!(Method::Other("FOO".into()).to_string(), "FOO");
    }
}
