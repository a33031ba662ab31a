//! Header names (canonical and compact forms, RFC 3261 §7.3.3) and the ordered header list with
//! typed accessors. Values are kept as text; typed views are parsed on demand.

use super::cseq::CSeq;
use super::name_addr::NameAddr;
use super::text::{is_lws, token_list};
use super::via::Via;

/// Long names of the single-letter compact forms.
const COMPACT: &[(char, &str)] = &[
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('n', "Identity-Info"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
    ('y', "Identity"),
];

/// Canonical spelling of well-known headers, so output looks conventional whatever the input.
const CANONICAL: &[&str] = &[
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition",
    "Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date",
    "Error-Info", "Event", "Expires", "From", "Identity", "Identity-Info", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization", "P-Asserted-Identity",
    "P-Preferred-Identity", "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By",
    "Reject-Contact", "Reply-To", "Request-Disposition", "Require", "Retry-After", "Route",
    "RSeq", "Server", "Session-Expires", "Subject", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
];

/// The canonical name for `name`: compact forms expanded, known headers in their usual case,
/// unknown headers unchanged.
pub fn canonical_name(name: &str) -> String {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return (*long).to_string();
        }
    }
    CANONICAL
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| (*k).to_string())
        .unwrap_or_else(|| name.to_string())
}

/// One header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Ordered header list. Lookups are case-insensitive; compact names are expanded on insertion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends a header (name canonicalised).
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        let value: String = value.into();
        // Never let a value break the framing.
        let value = if value.contains(['\r', '\n']) { value.replace(['\r', '\n'], " ") } else { value };
        self.0.push(Header { name: canonical_name(name), value });
    }

    /// Replaces every header of this name with one value (appended at the end if absent).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let canon = canonical_name(name);
        if let Some(i) = self.0.iter().position(|h| h.name.eq_ignore_ascii_case(&canon)) {
            self.0[i].value = value.into().replace(['\r', '\n'], " ");
            let mut seen = false;
            self.0.retain(|h| {
                if !h.name.eq_ignore_ascii_case(&canon) {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        } else {
            self.push(&canon, value);
        }
    }

    /// Inserts a header before all others (used for our own Via on outgoing requests).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(0, Header { name: canonical_name(name), value: value.into().replace(['\r', '\n'], " ") });
    }

    pub fn remove(&mut self, name: &str) {
        let canon = canonical_name(name);
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(&canon));
    }

    /// First value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        let canon = canonical_name(name);
        self.0.iter().find(|h| h.name.eq_ignore_ascii_case(&canon)).map(|h| h.value.as_str())
    }

    /// All header lines of this name, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let canon = canonical_name(name);
        self.0.iter().filter(move |h| h.name.eq_ignore_ascii_case(&canon)).map(|h| h.value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Copies every line of `name` from `other`, in order.
    pub fn copy_from(&mut self, other: &Headers, name: &str) {
        let canon = canonical_name(name);
        for h in other.0.iter().filter(|h| h.name.eq_ignore_ascii_case(&canon)) {
            self.0.push(h.clone());
        }
    }

    // ---- typed views -------------------------------------------------------------------------

    /// All Via values in order (comma-separated values and repeated lines both count).
    pub fn vias(&self) -> Result<Vec<Via>, super::uri::UriError> {
        let mut out = Vec::new();
        for v in self.get_all("Via") {
            out.extend(Via::parse_list(v)?);
        }
        Ok(out)
    }

    /// The topmost Via, if present and readable.
    pub fn top_via(&self) -> Option<Via> {
        let first = self.get("Via")?;
        Via::parse(super::text::split_top_level(first, ',').first()?).ok()
    }

    /// Replaces the topmost Via value (keeping any further values on the same line).
    pub fn set_top_via(&mut self, via: &Via) {
        if let Some(h) = self.0.iter_mut().find(|h| h.name == "Via") {
            let parts = super::text::split_top_level(&h.value, ',');
            let mut value = via.to_string();
            for p in parts.iter().skip(1) {
                value.push_str(", ");
                value.push_str(p);
            }
            h.value = value;
        }
    }

    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("From")?).ok()
    }

    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("To")?).ok()
    }

    pub fn call_id(&self) -> Option<&str> {
        self.get("Call-ID").map(|c| c.trim_matches(is_lws)).filter(|c| !c.is_empty())
    }

    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.get("CSeq")?)
    }

    /// The first Contact address (`*` and unreadable values give `None`).
    pub fn contact(&self) -> Option<NameAddr> {
        let first = self.get("Contact")?;
        NameAddr::parse_list(first).ok()?.into_iter().next()
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.get("Max-Forwards")?.trim().parse().ok()
    }

    pub fn content_length(&self) -> Option<usize> {
        self.get("Content-Length")?.trim().parse().ok()
    }

    /// Content-Type without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        let v = self.get("Content-Type")?;
        let main = v.split(';').next().unwrap_or("").trim_matches(is_lws);
        Some(main.to_ascii_lowercase())
    }

    /// Every address of every line of a list header (Route, Record-Route).
    pub fn name_addr_list(&self, name: &str) -> Result<Vec<NameAddr>, super::uri::UriError> {
        let mut out = Vec::new();
        for v in self.get_all(name) {
            out.extend(NameAddr::parse_list(v)?);
        }
        Ok(out)
    }

    /// Option tags of Require / Supported / Unsupported / Proxy-Require, or methods of Allow.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.get_all(name).flat_map(token_list).map(str::to_string).collect()
    }

    /// Whether a token-list header carries `tag` (case-insensitive).
    pub fn has_token(&self, name: &str, tag: &str) -> bool {
        self.get_all(name).flat_map(token_list).any(|t| t.eq_ignore_ascii_case(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name("v"), "Via");
        assert_eq!(canonical_name("I"), "Call-ID");
        assert_eq!(canonical_name("x"), "Session-Expires");
        assert_eq!(canonical_name("call-id"), "Call-ID");
        assert_eq!(canonical_name("cseq"), "CSeq");
        assert_eq!(canonical_name("X-Custom"), "X-Custom");
    }

    #[test]
    fn lookups_and_edits() {
        let mut h = Headers::new();
        h.push("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2");
        h.push("Via", "SIP/2.0/TCP c;branch=z9hG4bK3");
        h.push("k", "timer, 100rel");
        h.push("Supported", "replaces");
        h.push("l", "12");
        h.push("c", "Application/SDP; charset=utf-8");
        h.push("X-Evil", "a\r\nInjected: yes");
        assert_eq!(h.vias().unwrap().len(), 3);
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(h.tokens("supported"), vec!["timer", "100rel", "replaces"]);
        assert!(h.has_token("Supported", "TIMER"));
        assert_eq!(h.content_length(), Some(12));
        assert_eq!(h.content_type().as_deref(), Some("application/sdp"));
        assert_eq!(h.get("x-evil"), Some("a  Injected: yes"));

        let mut top = h.top_via().unwrap();
        top.params.set("received", Some("1.2.3.4"));
        h.set_top_via(&top);
        assert_eq!(h.get("Via"), Some("SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4, SIP/2.0/UDP b;branch=z9hG4bK2"));

        h.set("Supported", "timer");
        assert_eq!(h.get_all("Supported").count(), 1);
        h.remove("Via");
        assert!(h.top_via().is_none());
        h.push_front("Max-Forwards", "70");
        assert_eq!(h.iter().next().unwrap().name, "Max-Forwards");
        assert_eq!(h.max_forwards(), Some(70));
    }
}
