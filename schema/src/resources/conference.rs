//! Services: `conference` (VMRs, Virtual Auditoriums, Virtual Receptions, Test Call), its aliases,
//! automatically dialed participants and IVR themes.

use crate::descriptor::{Default, Field, Kind::*, Resource, f};

pub const SERVICE_TYPES: &[&str] = &["conference", "lecture", "two_stage_dialing", "test_call", "media_playback"];

/// Layout names of `host_view`/`guest_view`, in Pexip's `*8` cycling order.
pub const LAYOUTS: &[&str] = &[
    "one_main_seven_pips",
    "five_mains_seven_pips",
    "one_main_twentyone_pips",
    "two_mains_twentyone_pips",
    "four_mains_zero_pips",
    "nine_mains_zero_pips",
    "sixteen_mains_zero_pips",
    "twentyfive_mains_zero_pips",
    "one_main_zero_pips",
];

const CALL_TYPES: &[&str] = &["video", "audio", "video-only"];
const PIXELS: &[&str] = &["sd", "hd", "fullhd"];
const CRYPTO: &[&str] = &["besteffort", "on", "off"];
const TRISTATE: &[&str] = &["default", "yes", "no"];

static CONFERENCE_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required().help("The name of the service, unique among services."),
    f("description", Text { max: 250 }),
    f("tag", Str { max: 250 }).help("A free-form tag for reports and policy."),
    f("service_type", Choice(SERVICE_TYPES))
        .help("conference (Virtual Meeting Room), lecture (Virtual Auditorium), two_stage_dialing (Virtual Reception), test_call, media_playback."),
    f("pin", Pin).help("Host PIN: 4-20 digits, optionally ending in #."),
    f("guest_pin", Pin).help("Guest PIN: 4-20 digits, optionally ending in #; needs a host PIN and allow_guests, and must differ from it."),
    f("allow_guests", Bool).help("With guests, the host PIN is required and guests wait for a host."),
    f("participant_limit", Int { min: 0, max: 1_000_000 }).default(Default::Null).nullable(),
    f("aliases", Aliases).help("The aliases that reach this service, written inline as objects with alias and description."),
    f("automatic_participants", RefList("automatic_participant")).readonly(),
    f("call_type", Choice(CALL_TYPES)),
    f("max_callrate_in", Int { min: 128, max: 8192 }).default(Default::Null).nullable().help("kbps"),
    f("max_callrate_out", Int { min: 128, max: 8192 }).default(Default::Null).nullable().help("kbps"),
    f("max_pixels_per_second", Choice(PIXELS)).default(Default::Null).nullable(),
    f("crypto_mode", Choice(CRYPTO)).default(Default::Null).nullable().help("null uses the global setting."),
    f("host_view", Choice(LAYOUTS)),
    f("guest_view", Choice(LAYOUTS)),
    f("enable_overlay_text", Bool),
    f("enable_active_speaker_indication", Bool),
    f("force_presenter_into_main", Bool),
    f("guests_can_see_guests", Choice(&["no_hosts", "never", "always"])),
    f("guests_can_present", Bool).default(Default::Bool(true)),
    f("mute_all_guests", Bool),
    f("enable_chat", Choice(TRISTATE)),
    f("live_captions_enabled", Choice(TRISTATE)),
    f("direct_media", Choice(&["never", "best_effort", "always"])),
    f("direct_media_notification_duration", Int { min: 0, max: 30 }),
    f("breakout_rooms", Bool),
    f("denoise_enabled", Bool),
    f("softmute_enabled", Bool),
    f("match_string", Regex).help("Virtual Reception: regular expression applied to the number entered."),
    f("replace_string", Str { max: 250 }),
    f("post_match_string", Regex),
    f("post_replace_string", Str { max: 250 }),
    f("two_stage_dial_type", Choice(&["regular", "mssip", "gms", "teams"])),
    f("system_location", Ref("system_location")),
    f("non_idp_participants", Choice(&["disallow_all", "allow_if_trusted"])),
    f("ivr_theme", Ref("ivr_theme")),
    f("on_completion", Json).help(r#"e.g. {"disconnect": true} or {"transfer": {"conference": "<alias>", "role": "auto"}}"#),
    f("primary_owner_email_address", Str { max: 100 }),
    f("sync_tag", Str { max: 250 }).readonly().help("Set by LDAP sync on the services it owns."),
    f("creation_time", DateTime).readonly(),
];

pub static CONFERENCE: Resource = Resource {
    name: "conference",
    label: "service",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: CONFERENCE_FIELDS,
};

static ALIAS_FIELDS: &[Field] = &[
    f("alias", Str { max: 250 }).required().help("Unique across all services."),
    f("conference", Ref("conference")).required(),
    f("description", Str { max: 250 }),
    f("creation_time", DateTime).readonly(),
];

pub static CONFERENCE_ALIAS: Resource = Resource {
    name: "conference_alias",
    label: "alias",
    key: "alias",
    key_unique: true,
    singleton: false,
    owner: Some(("conference", "conference")),
    fields: ALIAS_FIELDS,
};

static ADP_FIELDS: &[Field] = &[
    f("alias", Str { max: 250 }).required().help("The address dialed."),
    f("conference", RefList("conference")).help("The services that dial this participant when they start."),
    f("description", Str { max: 250 }),
    f("protocol", Choice(&["sip", "h323", "mssip", "rtmp", "gms", "teams"])),
    f("call_type", Choice(CALL_TYPES)),
    f("role", Choice(&["guest", "chair"])),
    f("dtmf_sequence", Str { max: 250 }).help("Digits sent after connecting; a comma is a 2 s pause."),
    f("keep_conference_alive", Choice(&["keep_conference_alive_if_multiple", "keep_conference_alive", "keep_conference_alive_never"])),
    f("routing", Choice(&["manual", "routing_rule"])),
    f("system_location", Ref("system_location")),
    f("streaming", Bool),
    f("remote_display_name", Str { max: 250 }),
    f("presentation_url", Str { max: 250 }),
    f("creation_time", DateTime).readonly(),
];

pub static AUTOMATIC_PARTICIPANT: Resource = Resource {
    name: "automatic_participant",
    label: "automatically dialed participant",
    key: "alias",
    key_unique: false,
    singleton: false,
    owner: None,
    fields: ADP_FIELDS,
};

static IVR_THEME_FIELDS: &[Field] = &[
    f("name", Str { max: 250 }).required(),
    f("description", Str { max: 250 }),
    f("uuid", Str { max: 36 }).readonly(),
    f("creation_time", DateTime).readonly(),
];

pub static IVR_THEME: Resource = Resource {
    name: "ivr_theme",
    label: "IVR theme",
    key: "name",
    key_unique: true,
    singleton: false,
    owner: None,
    fields: IVR_THEME_FIELDS,
};
