//! Policy profiles: where a location's calls ask for external policy, and its local policy scripts.

use crate::descriptor::{Field, Kind::*, Resource, f};

const SCRIPT: crate::descriptor::Kind = Template { max: 65536 };

static FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("url", HttpUrl).help("Base URL of the external policy server; requests go to <url>/policy/v1/..."),
    f("username", Str { max: 100 }),
    f("password", Secret { max: 100 }),
    f("enable_service_lookup", Bool),
    f("enable_participant_lookup", Bool),
    f("enable_registration_lookup", Bool),
    f("enable_directory_lookup", Bool),
    f("enable_avatar_lookup", Bool),
    f("enable_media_location_lookup", Bool),
    f("enable_internal_service_policy", Bool),
    f("enable_internal_participant_policy", Bool),
    f("enable_internal_media_location_policy", Bool),
    f("internal_service_policy_template", SCRIPT),
    f("internal_participant_policy_template", SCRIPT),
    f("internal_media_location_policy_template", SCRIPT),
    f("creation_time", DateTime).readonly(),
];

pub static POLICY_SERVER: Resource = Resource {
    name: "policy_server",
    label: "policy profile",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: FIELDS,
};
