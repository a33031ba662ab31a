//! What the dashboard shows for each configuration resource: its pages' URLs and titles, the
//! fields a form puts first, and the columns of its list.

use convene_schema::descriptor::Resource;
use convene_schema::resources::{
    AUTOMATIC_PARTICIPANT, CONFERENCE, CONFERENCE_SYNC_TEMPLATE, GATEWAY_ROUTING_RULE, GLOBAL, IVR_THEME, LDAP_SYNC_SOURCE,
    POLICY_SERVER, SYSTEM_LOCATION, WORKER_VM,
};

/// One kind of object the dashboard manages.
#[derive(Debug)]
pub struct Page {
    /// URL segment: `/admin/<slug>/`.
    pub slug: &'static str,
    /// Plural title (headings, navigation).
    pub title: &'static str,
    /// Singular name used in buttons and messages.
    pub singular: &'static str,
    pub resource: &'static Resource,
    /// For services: the `service_type` this page lists and creates.
    pub service_type: Option<&'static str>,
    /// Fields shown first; the others go under "Advanced". Empty: every field in one list.
    pub primary: &'static [&'static str],
    /// Fields this page does not show (they keep their stored values on save).
    pub hidden: &'static [&'static str],
    /// List columns (field names); the resource's key field links to the object.
    pub columns: &'static [&'static str],
    pub order_by: &'static str,
    /// A sentence under the list heading.
    pub intro: &'static str,
}

impl Page {
    /// Fields the page fills in itself rather than from the form.
    pub fn fixed(&self) -> &'static [&'static str] {
        if self.service_type.is_some() { &["service_type"] } else { &[] }
    }

    pub fn list_url(&self) -> String {
        format!("/admin/{}/", self.slug)
    }
}

const SERVICE_PRIMARY: &[&str] = &[
    "name", "description", "aliases", "pin", "guest_pin", "allow_guests", "host_view", "guest_view", "participant_limit", "tag",
];
const RECEPTION_ONLY: &[&str] = &["match_string", "replace_string", "post_match_string", "post_replace_string", "two_stage_dial_type"];
const SERVICE_COLUMNS: &[&str] = &["name", "aliases", "pin", "allow_guests", "description"];

pub static PAGES: &[Page] = &[
    Page {
        slug: "vmrs",
        title: "Virtual Meeting Rooms",
        singular: "Virtual Meeting Room",
        resource: &CONFERENCE,
        service_type: Some("conference"),
        primary: SERVICE_PRIMARY,
        hidden: RECEPTION_ONLY,
        columns: SERVICE_COLUMNS,
        order_by: "name",
        intro: "Personal and shared meeting rooms, reached by any of their aliases.",
    },
    Page {
        slug: "auditoriums",
        title: "Virtual Auditoriums",
        singular: "Virtual Auditorium",
        resource: &CONFERENCE,
        service_type: Some("lecture"),
        primary: SERVICE_PRIMARY,
        hidden: RECEPTION_ONLY,
        columns: SERVICE_COLUMNS,
        order_by: "name",
        intro: "Large meetings where Hosts are seen and Guests watch.",
    },
    Page {
        slug: "receptions",
        title: "Virtual Receptions",
        singular: "Virtual Reception",
        resource: &CONFERENCE,
        service_type: Some("two_stage_dialing"),
        primary: &[
            "name", "description", "aliases", "two_stage_dial_type", "match_string", "replace_string", "post_match_string",
            "post_replace_string", "system_location", "tag",
        ],
        hidden: &[],
        columns: &["name", "aliases", "two_stage_dial_type", "match_string", "description"],
        order_by: "name",
        intro: "IVR entry points where callers key in the number of the meeting they want to join.",
    },
    Page {
        slug: "test-calls",
        title: "Test Call services",
        singular: "Test Call service",
        resource: &CONFERENCE,
        service_type: Some("test_call"),
        primary: &["name", "description", "aliases", "call_type", "tag"],
        hidden: RECEPTION_ONLY,
        columns: &["name", "aliases", "call_type", "description"],
        order_by: "name",
        intro: "Services callers use to check their audio, video and network.",
    },
    Page {
        slug: "automatic-participants",
        title: "Automatically dialed participants",
        singular: "automatically dialed participant",
        resource: &AUTOMATIC_PARTICIPANT,
        service_type: None,
        primary: &["alias", "description", "conference", "protocol", "role", "call_type", "routing", "system_location"],
        hidden: &[],
        columns: &["alias", "protocol", "role", "conference", "description"],
        order_by: "alias",
        intro: "Endpoints and streaming services dialed out to when a conference starts.",
    },
    Page {
        slug: "ivr-themes",
        title: "IVR themes",
        singular: "IVR theme",
        resource: &IVR_THEME,
        service_type: None,
        primary: &[],
        hidden: &[],
        columns: &["name", "description", "uuid"],
        order_by: "name",
        intro: "Splash screens and voice prompts used by services.",
    },
    Page {
        slug: "routing-rules",
        title: "Call routing rules",
        singular: "call routing rule",
        resource: &GATEWAY_ROUTING_RULE,
        service_type: None,
        primary: &[
            "name", "description", "priority", "enable", "match_string", "replace_string", "called_device_type",
            "outgoing_protocol", "outgoing_location", "call_type",
        ],
        hidden: &[],
        columns: &["priority", "name", "match_string", "outgoing_protocol", "enable"],
        order_by: "priority",
        intro: "Distributed Gateway rules, tried in ascending priority; the first match routes the call.",
    },
    Page {
        slug: "locations",
        title: "System locations",
        singular: "system location",
        resource: &SYSTEM_LOCATION,
        service_type: None,
        primary: &[],
        hidden: &[],
        columns: &["name", "description", "mtu", "policy_server"],
        order_by: "name",
        intro: "Groups of Conferencing Nodes in the same place, with their overflow and policy.",
    },
    Page {
        slug: "nodes",
        title: "Conferencing Nodes",
        singular: "Conferencing Node",
        resource: &WORKER_VM,
        service_type: None,
        primary: &[
            "name", "description", "hostname", "domain", "address", "netmask", "gateway", "node_type", "system_location",
            "maintenance_mode", "maintenance_mode_reason",
        ],
        hidden: &[],
        columns: &["name", "hostname", "address", "node_type", "system_location", "maintenance_mode"],
        order_by: "name",
        intro: "The nodes that host calls. A node reports its load once it runs with this name.",
    },
    Page {
        slug: "ldap-sources",
        title: "LDAP sync sources",
        singular: "LDAP sync source",
        resource: &LDAP_SYNC_SOURCE,
        service_type: None,
        primary: &[],
        hidden: &[],
        columns: &["name", "ldap_server", "ldap_base_dn"],
        order_by: "name",
        intro: "Directory servers that VMR sync templates read people from.",
    },
    Page {
        slug: "ldap-templates",
        title: "LDAP sync templates",
        singular: "LDAP sync template",
        resource: &CONFERENCE_SYNC_TEMPLATE,
        service_type: None,
        primary: &[
            "name", "description", "ldap_sync_source", "ldap_user_filter", "ldap_user_search_dn", "enable_automatic_sync",
            "conference_name", "conference_description", "alias_1", "alias_1_description", "alias_2", "alias_2_description",
            "pin", "guest_pin", "allow_guests", "service_type",
        ],
        hidden: &[],
        columns: &["name", "ldap_sync_source", "service_type", "enable_automatic_sync"],
        order_by: "name",
        intro: "Templates that turn directory entries into Virtual Meeting Rooms.",
    },
    Page {
        slug: "policy-profiles",
        title: "Policy profiles",
        singular: "policy profile",
        resource: &POLICY_SERVER,
        service_type: None,
        primary: &[
            "name", "description", "url", "username", "password", "enable_service_lookup", "enable_participant_lookup",
            "enable_registration_lookup", "enable_directory_lookup", "enable_avatar_lookup", "enable_media_location_lookup",
        ],
        hidden: &[],
        columns: &["name", "url", "enable_service_lookup", "enable_participant_lookup"],
        order_by: "name",
        intro: "External policy servers and local policy scripts used by system locations.",
    },
];

/// The global settings page (edit only).
pub static GLOBAL_PAGE: Page = Page {
    slug: "global",
    title: "Global settings",
    singular: "global settings",
    resource: &GLOBAL,
    service_type: None,
    primary: &[],
    hidden: &[],
    columns: &[],
    order_by: "id",
    intro: "Platform-wide defaults and limits.",
};

pub fn by_slug(slug: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.slug == slug)
}

/// The page that shows conferences of `service_type` (media playback services have none).
pub fn for_service_type(service_type: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.service_type == Some(service_type))
}

/// Navigation: groups of `(slug, title)`; `status`, `global` and the overview are special pages.
pub const NAV: &[(&str, &[(&str, &str)])] = &[
    ("Monitoring", &[("", "Overview"), ("status", "Live status")]),
    (
        "Services",
        &[
            ("vmrs", "Virtual Meeting Rooms"),
            ("auditoriums", "Virtual Auditoriums"),
            ("receptions", "Virtual Receptions"),
            ("test-calls", "Test Call services"),
            ("automatic-participants", "Automatic participants"),
            ("ivr-themes", "IVR themes"),
        ],
    ),
    ("Call routing", &[("routing-rules", "Call routing rules"), ("policy-profiles", "Policy profiles"), ("policy-try", "Try local policy")]),
    ("Platform", &[("locations", "System locations"), ("nodes", "Conferencing Nodes"), ("global", "Global settings")]),
    ("Directory", &[("ldap-sources", "LDAP sync sources"), ("ldap-templates", "LDAP sync templates"), ("ldap-sync", "LDAP sync")]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_field_exists() {
        for page in PAGES.iter().chain([&GLOBAL_PAGE]) {
            for name in page.primary.iter().chain(page.hidden).chain(page.columns) {
                assert!(page.resource.field(name).is_some(), "{}: {name}", page.slug);
            }
        }
    }

    #[test]
    fn navigation_reaches_every_page() {
        let slugs: Vec<&str> = NAV.iter().flat_map(|(_, items)| items.iter().map(|(s, _)| *s)).collect();
        for page in PAGES {
            assert!(slugs.contains(&page.slug), "{}", page.slug);
        }
    }
}
