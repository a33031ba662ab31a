//! The Distributed Gateway's call routing rules.

use crate::descriptor::{Default, Field, Kind::*, Resource, f};

static FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("priority", Int { min: 1, max: 200 }).default(Default::Int(100)).help("Rules are tried in ascending priority; the first match wins."),
    f("enable", Bool).default(Default::Bool(true)),
    f("match_string", Regex).required().help("Regular expression matched against the dialed alias."),
    f("match_string_full", Bool).help("Match against the full, unparsed URI."),
    f("replace_string", Str { max: 250 }).help("Replacement for the alias dialed onward; \\1 refers to a group."),
    f("match_incoming_calls", Bool).default(Default::Bool(true)),
    f("match_outgoing_calls", Bool),
    f("match_incoming_sip", Bool).default(Default::Bool(true)),
    f("match_incoming_h323", Bool).default(Default::Bool(true)),
    f("match_incoming_mssip", Bool).default(Default::Bool(true)),
    f("match_incoming_webrtc", Bool).default(Default::Bool(true)),
    f("match_incoming_teams", Bool),
    f("match_incoming_only_if_registered", Bool),
    f("match_source_location", Ref("system_location")),
    f("called_device_type", Choice(&[
        "external", "registration", "mssip_conference_id", "mssip_server", "gms_conference",
        "teams_conference", "teams_user", "telehealth_profile",
    ])),
    f("outgoing_protocol", Choice(&["sip", "h323", "mssip", "rtmp", "gms", "teams"])),
    f("call_type", Choice(&["video", "audio", "video-only", "auto"])),
    f("outgoing_location", Ref("system_location")),
    f("max_pixels_per_second", Choice(&["sd", "hd", "fullhd"])).default(Default::Null).nullable(),
    f("max_callrate_in", Int { min: 128, max: 8192 }).default(Default::Null).nullable(),
    f("max_callrate_out", Int { min: 128, max: 8192 }).default(Default::Null).nullable(),
    f("crypto_mode", Choice(&["besteffort", "on", "off"])).default(Default::Null).nullable(),
    f("treat_as_trusted", Bool),
    f("tag", Str { max: 250 }),
    f("creation_time", DateTime).readonly(),
];

pub static GATEWAY_ROUTING_RULE: Resource = Resource {
    name: "gateway_routing_rule",
    label: "call routing rule",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: FIELDS,
};
