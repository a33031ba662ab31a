//! Directory: LDAP sync sources and the templates that turn directory entries into VMRs.

use crate::descriptor::{Default, Field, Kind::*, Resource, f};
use super::conference::LAYOUTS;

static SOURCE_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("ldap_server", LdapUrl).required().help("ldap://host:port or ldaps://host:port"),
    f("ldap_base_dn", Str { max: 255 }).required(),
    f("ldap_bind_username", Str { max: 255 }),
    f("ldap_bind_password", Secret { max: 100 }).help("Stored encrypted, never shown."),
    f("ldap_bind_password_file", Str { max: 255 })
        .help("Instead of ldap_bind_password: a file on the Management Node holding the password (first line)."),
    f("ldap_use_global_catalog", Bool),
    f("ldap_use_starttls", Bool).default(Default::Bool(true)).help("With ldap://, upgrade the connection with StartTLS."),
    f("ldap_permit_no_tls", Bool).help("Allow plain ldap:// without TLS (when StartTLS is off or fails)."),
    f("ldap_verify_certificate", Bool)
        .default(Default::Bool(true))
        .help("Verify the server's TLS certificate against the system's trusted CAs. Turn off only for testing."),
    f("ldap_search_page_size", Int { min: 1, max: 10_000 })
        .default(Default::Int(500))
        .help("Entries per page of the Simple Paged Results search."),
    f("ldap_timeout", Int { min: 1, max: 3600 }).default(Default::Int(30)).help("Seconds to wait for the server to answer."),
    f("creation_time", DateTime).readonly(),
];

pub static LDAP_SYNC_SOURCE: Resource = Resource {
    name: "ldap_sync_source",
    label: "LDAP sync source",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: SOURCE_FIELDS,
};

const T: crate::descriptor::Kind = Template { max: 250 };

static TEMPLATE_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("ldap_sync_source", Ref("ldap_sync_source")).required(),
    f("ldap_user_filter", Str { max: 1024 }).help("An LDAP search filter (RFC 4515), checked when saved.").default(Default::Str("(&(objectclass=person)(!(objectclass=computer)))")),
    f("ldap_user_search_dn", Str { max: 255 }).help("Relative to the source's base DN."),
    f("enable_automatic_sync", Bool).help("Sync once a day."),
    f("sync_conferences", Bool).default(Default::Bool(true)),
    f("sync_devices", Bool),
    f("sync_end_users", Bool),
    f("conference_name", T).default(Default::Str("{{givenName}} {{sn}} VMR")),
    f("conference_description", T),
    f("alias_1", T), f("alias_1_description", T),
    f("alias_2", T), f("alias_2_description", T),
    f("alias_3", T), f("alias_3_description", T),
    f("alias_4", T), f("alias_4_description", T),
    f("alias_5", T), f("alias_5_description", T),
    f("alias_6", T), f("alias_6_description", T),
    f("alias_7", T), f("alias_7_description", T),
    f("alias_8", T), f("alias_8_description", T),
    f("pin", T),
    f("guest_pin", T),
    f("allow_guests", Bool),
    f("service_type", Choice(&["conference", "lecture"])),
    f("host_view", Choice(LAYOUTS)),
    f("call_type", Choice(&["video", "audio", "video-only"])),
    f("tag", T),
    f("pin_settings_overridable", Bool).help("Manual changes of pin, guest_pin and allow_guests survive later syncs."),
    f("aliases_overridable", Bool).help("Manual changes of the aliases survive later syncs."),
    f("host_view_overridable", Bool).help("A manual change of host_view survives later syncs."),
    f("conference_description_overridable", Bool).help("A manual change of the description survives later syncs."),
    f("max_deletions_percent", Int { min: 0, max: 100 })
        .default(Default::Int(50))
        .help("Safety threshold: a sync deletes no VMRs when it would delete more than this percentage of the ones it owns (100: no limit). An empty directory result never deletes unless this is 100."),
    f("creation_time", DateTime).readonly(),
];

pub static CONFERENCE_SYNC_TEMPLATE: Resource = Resource {
    name: "conference_sync_template",
    label: "VMR sync template",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: TEMPLATE_FIELDS,
};
