//! Platform: system locations, Conferencing Nodes (`worker_vm`) and global settings.

use crate::descriptor::{Default, Field, Kind::*, Resource, f};

static LOCATION_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("mtu", Int { min: 512, max: 1500 }).default(Default::Int(1500)),
    f("media_qos", Int { min: 0, max: 63 }),
    f("signalling_qos", Int { min: 0, max: 63 }),
    f("transcoding_location", Ref("system_location")),
    f("overflow_location1", Ref("system_location")),
    f("overflow_location2", Ref("system_location")),
    f("policy_server", Ref("policy_server")),
    f("use_relay_candidates_only", Bool),
    f("local_mssip_domain", Str { max: 250 }),
    f("creation_time", DateTime).readonly(),
];

pub static SYSTEM_LOCATION: Resource = Resource {
    name: "system_location",
    label: "system location",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: LOCATION_FIELDS,
};

static WORKER_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("hostname", Str { max: 63 }).required(),
    f("domain", Str { max: 192 }),
    f("address", IpAddr).required().help("The node's IPv4 or IPv6 address."),
    f("netmask", Str { max: 45 }),
    f("gateway", IpAddr),
    f("ipv6_address", IpAddr),
    f("secondary_address", IpAddr),
    f("static_nat_address", IpAddr),
    f("node_type", Choice(&["CONFERENCING", "PROXYING"])),
    f("system_location", Ref("system_location")),
    f("transcoding", Bool).default(Default::Bool(true)),
    f("maintenance_mode", Bool),
    f("maintenance_mode_reason", Str { max: 250 }),
    f("vm_cpu_count", Int { min: 2, max: 128 }).default(Default::Int(4)),
    f("vm_system_memory", Int { min: 2000, max: 64000 }).default(Default::Int(4096)),
    f("snmp_mode", Choice(&["DISABLED", "STANDARD", "AUTHPRIV"])),
    f("creation_time", DateTime).readonly(),
];

pub static WORKER_VM: Resource = Resource {
    name: "worker_vm",
    label: "Conferencing Node",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: WORKER_FIELDS,
};

static GLOBAL_FIELDS: &[Field] = &[
    f("guests_only_timeout", Int { min: 0, max: 86400 }).default(Default::Int(60))
        .help("Seconds a conference stays up after the last host leaves."),
    f("waiting_for_chair_timeout", Int { min: 0, max: 86400 }).default(Default::Int(900))
        .help("Seconds guests wait for a host."),
    f("pin_entry_timeout", Int { min: 30, max: 86400 }).default(Default::Int(120)),
    f("eject_last_participant_backstop_timeout", Int { min: 0, max: 86400 })
        .help("0 = never, otherwise 60-86400 seconds."),
    f("min_pin_length", Int { min: 4, max: 20 }).default(Default::Int(6)),
    f("max_presentation_bandwidth_ratio", Int { min: 25, max: 75 }).default(Default::Int(75)),
    f("media_ports_start", Int { min: 1024, max: 65535 }).default(Default::Int(40000)),
    f("media_ports_end", Int { min: 1024, max: 65535 }).default(Default::Int(49999)),
    f("signalling_ports_start", Int { min: 1024, max: 65535 }).default(Default::Int(33000)),
    f("signalling_ports_end", Int { min: 1024, max: 65535 }).default(Default::Int(39999)),
    f("max_callrate_in", Int { min: 128, max: 8192 }).default(Default::Null).nullable(),
    f("max_callrate_out", Int { min: 128, max: 8192 }).default(Default::Null).nullable(),
    f("max_pixels_per_second", Choice(&["hd", "sd", "fullhd"])),
    f("crypto_mode", Choice(&["besteffort", "on", "off"])),
    f("enable_chat", Bool).default(Default::Bool(true)),
    f("enable_sip", Bool).default(Default::Bool(true)),
    f("enable_h323", Bool).default(Default::Bool(true)),
    f("enable_webrtc", Bool).default(Default::Bool(true)),
    f("enable_rtmp", Bool).default(Default::Bool(true)),
    f("enable_dialout", Bool).default(Default::Bool(true)),
    f("enable_breakout_rooms", Bool),
    f("enable_fecc", Bool).default(Default::Bool(true)),
    f("default_theme", Ref("ivr_theme")),
];

pub static GLOBAL: Resource = Resource {
    name: "global",
    label: "global settings",
    key: "min_pin_length",
    key_unique: false,
    singleton: true,
    owner: None,
    fields: GLOBAL_FIELDS,
};
