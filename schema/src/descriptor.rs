//! Declarative descriptions of the configuration resources.
//!
//! One table of [`Field`]s per resource drives everything that must agree with everything else:
//! validation of API bodies and dashboard forms, the Tastypie `schema/` endpoint, the OpenAPI
//! document, list filters and the generated dashboard forms. Adding a field is one line here.

/// What values a field takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A single-line string of at most `max` characters.
    Str { max: usize },
    /// Free text (descriptions, scripts); no line restriction.
    Text { max: usize },
    /// An integer within `min..=max`.
    Int { min: i64, max: i64 },
    Bool,
    /// One of a fixed list of values.
    Choice(&'static [&'static str]),
    /// A conference PIN: empty, or 4–20 digits with an optional trailing `#`.
    Pin,
    /// A regular expression (checked for validity when saved).
    Regex,
    /// A Jinja2 template (LDAP sync patterns, local policy); checked by the storage layer.
    Template { max: usize },
    /// An `http://` or `https://` URL.
    HttpUrl,
    /// An `ldap://` or `ldaps://` URL.
    LdapUrl,
    /// An IPv4 or IPv6 address.
    IpAddr,
    /// The `resource_uri` of one object of the named resource.
    Ref(&'static str),
    /// A list of `resource_uri`s of the named resource.
    RefList(&'static str),
    /// A conference's aliases, written inline as `{"alias": …, "description": …}` objects and
    /// stored as `conference_alias` objects.
    Aliases,
    /// Any JSON value (e.g. `on_completion`).
    Json,
    /// A write-only secret: stored, never returned.
    Secret { max: usize },
    /// A time stamp set by the server (read-only).
    DateTime,
}

/// A field's value when the client does not give one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    EmptyList,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub nullable: bool,
    pub required: bool,
    pub readonly: bool,
    pub help: &'static str,
}

impl Field {
    pub const fn new(name: &'static str, kind: Kind) -> Self {
        let default = match kind {
            Kind::Bool => Default::Bool(false),
            Kind::Int { min, .. } => Default::Int(min),
            Kind::RefList(_) | Kind::Aliases => Default::EmptyList,
            Kind::Ref(_) | Kind::Json | Kind::DateTime => Default::Null,
            Kind::Choice(values) => Default::Str(values[0]),
            _ => Default::Str(""),
        };
        let nullable = matches!(kind, Kind::Ref(_) | Kind::Json | Kind::DateTime);
        Field { name, kind, default, nullable, required: false, readonly: false, help: "" }
    }
    pub const fn default(mut self, d: Default) -> Self {
        self.default = d;
        self
    }
    pub const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    /// Whether this field is kept in the object's JSON document (aliases live in their own rows,
    /// secrets are stored but never shown).
    pub fn is_stored(&self) -> bool {
        !matches!(self.kind, Kind::Aliases)
    }

    /// The Tastypie `type` name used by `schema/`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int { .. } => "integer",
            Kind::Bool => "boolean",
            Kind::Ref(_) => "related",
            Kind::RefList(_) | Kind::Aliases => "related",
            Kind::Json => "dict",
            Kind::DateTime => "datetime",
            _ => "string",
        }
    }
}

/// Shorthand used by the resource tables.
pub const fn f(name: &'static str, kind: Kind) -> Field {
    Field::new(name, kind)
}

/// A configuration resource under `/api/admin/configuration/v1/<name>/`.
#[derive(Debug)]
pub struct Resource {
    pub name: &'static str,
    /// Human name for the dashboard, singular.
    pub label: &'static str,
    /// The field that names an object (shown in lists, searched by the dashboard).
    pub key: &'static str,
    /// Whether `key` must be unique (case-insensitively) among objects of this resource.
    pub key_unique: bool,
    /// A singleton (`global`): exactly one object with id 1, no POST or DELETE.
    pub singleton: bool,
    /// For child resources (`conference_alias`): the field holding the parent's URI.
    pub owner: Option<(&'static str, &'static str)>,
    pub fields: &'static [Field],
}

impl Resource {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn uri(&self, id: i64) -> String {
        format!("{}{}/{}/", CONFIG_PREFIX, self.name, id)
    }

    pub fn list_uri(&self) -> String {
        format!("{}{}/", CONFIG_PREFIX, self.name)
    }

    /// Parses `/api/admin/configuration/v1/<name>/<id>/` (or a bare id) into an id.
    pub fn parse_ref(&self, value: &serde_json::Value) -> Option<i64> {
        parse_ref_to(self.name, value)
    }
}

pub const CONFIG_PREFIX: &str = "/api/admin/configuration/v1/";

/// Parses a reference to an object of resource `name`: its URI, or its id as a number or string.
pub fn parse_ref_to(name: &str, value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().filter(|id| *id > 0),
        serde_json::Value::String(s) => {
            let rest = match s.strip_prefix(CONFIG_PREFIX) {
                Some(rest) => rest.strip_prefix(name)?.strip_prefix('/')?,
                None => s.as_str(),
            };
            rest.trim_end_matches('/').parse().ok().filter(|id| *id > 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_parse_from_uri_number_or_string() {
        assert_eq!(parse_ref_to("conference", &json!("/api/admin/configuration/v1/conference/12/")), Some(12));
        assert_eq!(parse_ref_to("conference", &json!(12)), Some(12));
        assert_eq!(parse_ref_to("conference", &json!("12")), Some(12));
        assert_eq!(parse_ref_to("conference", &json!("/api/admin/configuration/v1/worker_vm/12/")), None);
        assert_eq!(parse_ref_to("conference", &json!("/api/admin/configuration/v1/conference/x/")), None);
        assert_eq!(parse_ref_to("conference", &json!(0)), None);
        assert_eq!(parse_ref_to("conference", &json!(null)), None);
    }
}
