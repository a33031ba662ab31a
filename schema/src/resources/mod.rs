//! The configuration resources of `/api/admin/configuration/v1/`, with the field names, enum values
//! and defaults of Pexip Infinity's Management API (see `../shared/reference/pexip.md`, section 1).

mod conference;
mod directory;
mod platform;
mod policy;
mod routing;

use crate::descriptor::Resource;

pub use conference::{CONFERENCE, CONFERENCE_ALIAS, AUTOMATIC_PARTICIPANT, IVR_THEME, LAYOUTS, SERVICE_TYPES};
pub use directory::{CONFERENCE_SYNC_TEMPLATE, LDAP_SYNC_SOURCE};
pub use platform::{GLOBAL, SYSTEM_LOCATION, WORKER_VM};
pub use policy::POLICY_SERVER;
pub use routing::GATEWAY_ROUTING_RULE;

/// Every configuration resource, in the order the dashboard and the OpenAPI document list them.
pub static ALL: &[&Resource] = &[
    &CONFERENCE,
    &CONFERENCE_ALIAS,
    &AUTOMATIC_PARTICIPANT,
    &GATEWAY_ROUTING_RULE,
    &SYSTEM_LOCATION,
    &WORKER_VM,
    &IVR_THEME,
    &GLOBAL,
    &LDAP_SYNC_SOURCE,
    &CONFERENCE_SYNC_TEMPLATE,
    &POLICY_SERVER,
];

pub fn by_name(name: &str) -> Option<&'static Resource> {
    ALL.iter().copied().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::{Default, Kind};

    #[test]
    fn every_reference_points_at_a_known_resource() {
        for r in ALL {
            for f in r.fields {
                if let Kind::Ref(t) | Kind::RefList(t) = f.kind {
                    assert!(by_name(t).is_some(), "{}.{} refers to unknown {t}", r.name, f.name);
                }
            }
        }
    }

    #[test]
    fn defaults_fit_their_kinds() {
        for r in ALL {
            assert!(r.field(r.key).is_some(), "{} key {}", r.name, r.key);
            for f in r.fields {
                match (f.kind, f.default) {
                    (Kind::Choice(values), Default::Str(v)) => assert!(values.contains(&v), "{}.{}", r.name, f.name),
                    (Kind::Choice(_), Default::Null) => assert!(f.nullable, "{}.{}", r.name, f.name),
                    (Kind::Int { min, max }, Default::Int(v)) => assert!(v >= min && v <= max, "{}.{}", r.name, f.name),
                    (Kind::Int { .. }, Default::Null) => assert!(f.nullable, "{}.{}", r.name, f.name),
                    (Kind::Bool, d) => assert!(matches!(d, Default::Bool(_)), "{}.{}", r.name, f.name),
                    _ => {}
                }
            }
        }
    }
}
