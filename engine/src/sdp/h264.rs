//! H.264 (RFC 6184): `profile-level-id`, the fmtp parameters, and the answer rule.
//!
//! # The rule we implement (RFC 6184 §8.2.2)
//!
//! `profile-level-id` and `packetization-mode` identify a media format configuration and "MUST
//! be used symmetrically": the answerer keeps them or removes the payload type, except for the
//! *level* part, which it may change. So for each offered H.264 payload type:
//!
//! 1. its `packetization-mode` (absent = 0) must be one we support (0 and 1); the answer repeats
//!    the same mode;
//! 2. its profile (profile_idc + profile-iop, classified by RFC 6184 Table 5) must be one whose
//!    decoders can decode the Constrained Baseline stream our encoder produces — Constrained
//!    Baseline `42e0xx`/`42c0xx`/`4de0xx`, Baseline `42xxxx`/`4280xx` (Polycom and Cisco offer it),
//!    Main `4dxxxx`, and optionally High `64xxxx` / Constrained High `640cxx` — *and* one we are
//!    willing to decode ([`H264Config::accept_profiles`]). Extended, High 10/4:2:2/4:4:4 are refused;
//! 3. the answer keeps the offered profile bytes unchanged (an answer of `42e01f` to a `42801f`
//!    offer would violate the symmetry rule, and libwebrtc-style matchers drop such a codec);
//! 4. the answer's level is min(our maximum level, offered level): never above what the endpoint
//!    offered. When the offered level is the lower one the offered `profile-level-id` is
//!    repeated verbatim; otherwise the level byte becomes ours (and the constraint_set3 flag that
//!    marks level 1b in Baseline/Main/Extended is cleared). We never send
//!    `level-asymmetry-allowed`, so the level is symmetric.
//!
//! Among several acceptable H.264 payload types the preferred one is the best profile match
//! (Constrained Baseline first), then our packetization-mode preference (1 before 0 by
//! default: mode 0 forces one NAL unit per packet), then the offer's order.

use std::fmt;

use super::codecs::fmtp_params;

/// A parsed `profile-level-id`: three bytes, profile_idc, profile-iop (the constraint_set flags)
/// and level_idc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileLevelId {
    /// profile_idc: 0x42 Baseline, 0x4d Main, 0x58 Extended, 0x64 High, ...
    pub profile_idc: u8,
    /// profile-iop: constraint_set0..5 flags in the high bits, 2 reserved zero bits.
    pub profile_iop: u8,
    /// level_idc: 10 × level (0x1f = 3.1, 0x28 = 4.0).
    pub level_idc: u8,
}

/// The H.264 profiles of RFC 6184 Table 5 that matter for negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Profile {
    /// Constrained Baseline: 42 x1xx0000, 4d 1xxx0000, 58 11xx0000.
    ConstrainedBaseline,
    /// Baseline: 42 x0xx0000, 58 10xx0000.
    Baseline,
    /// Main: 4d 0x0x0000.
    Main,
    /// Extended: 58 00xx0000.
    Extended,
    /// High: 64 00000000.
    High,
    /// Constrained High: 64 00001100.
    ConstrainedHigh,
    /// Anything else (High 10, 4:2:2, 4:4:4, SVC, reserved bits set...).
    Other,
}

impl ProfileLevelId {
    /// Our default: Constrained Baseline, level 3.1.
    pub const CONSTRAINED_BASELINE_3_1: ProfileLevelId = ProfileLevelId {
        profile_idc: 0x42,
        profile_iop: 0xe0,
        level_idc: 0x1f,
    };

    /// What RFC 6184 §8.1 says to assume when `profile-level-id` is absent: Baseline, level 1.
    pub const DEFAULT: ProfileLevelId = ProfileLevelId {
        profile_idc: 0x42,
        profile_iop: 0x00,
        level_idc: 0x0a,
    };

    /// Reads six hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
        Some(ProfileLevelId {
            profile_idc: byte(0)?,
            profile_iop: byte(2)?,
            level_idc: byte(4)?,
        })
    }

    /// The profile per RFC 6184 Table 5.
    pub fn profile(self) -> H264Profile {
        let iop = self.profile_iop;
        match self.profile_idc {
            0x42 if iop & 0x4f == 0x40 => H264Profile::ConstrainedBaseline,
            0x42 if iop & 0x4f == 0x00 => H264Profile::Baseline,
            0x4d if iop & 0x8f == 0x80 => H264Profile::ConstrainedBaseline,
            0x4d if iop & 0xaf == 0x00 => H264Profile::Main,
            0x58 if iop & 0xcf == 0xc0 => H264Profile::ConstrainedBaseline,
            0x58 if iop & 0xcf == 0x80 => H264Profile::Baseline,
            0x58 if iop & 0xcf == 0x00 => H264Profile::Extended,
            0x64 if iop == 0x00 => H264Profile::High,
            0x64 if iop == 0x0c => H264Profile::ConstrainedHigh,
            _ => H264Profile::Other,
        }
    }

    /// Whether this is level 1b: level_idc 11 with constraint_set3 in Baseline/Main/Extended, or
    /// level_idc 9 elsewhere.
    pub fn is_level_1b(self) -> bool {
        match self.profile_idc {
            0x42 | 0x4d | 0x58 => self.level_idc == 11 && self.profile_iop & 0x10 != 0,
            _ => self.level_idc == 9,
        }
    }

    /// A key that orders levels correctly (1 < 1b < 1.1 < ... ).
    pub fn level_order(self) -> u16 {
        if self.is_level_1b() {
            21
        } else {
            u16::from(self.level_idc) * 2
        }
    }

    /// The same profile at the level of `other`.
    pub fn with_level_of(self, other: ProfileLevelId) -> ProfileLevelId {
        let mut iop = self.profile_iop;
        let mut level_idc = other.level_idc;
        let flag_1b = matches!(self.profile_idc, 0x42 | 0x4d | 0x58);
        if flag_1b {
            iop &= !0x10; // constraint_set3 means "level 1b" in these profiles
        }
        if other.is_level_1b() {
            if flag_1b {
                iop |= 0x10;
                level_idc = 11;
            } else {
                level_idc = 9;
            }
        }
        ProfileLevelId {
            profile_idc: self.profile_idc,
            profile_iop: iop,
            level_idc,
        }
    }
}

impl fmt::Display for ProfileLevelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}{:02x}{:02x}",
            self.profile_idc, self.profile_iop, self.level_idc
        )
    }
}

/// Our H.264 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Config {
    /// What we offer and, by its level, the highest level we accept: `42e01f` (Constrained
    /// Baseline 3.1) by default.
    pub profile_level_id: ProfileLevelId,
    /// Packetization modes we support, in preference order (`[1, 0]`).
    pub packetization_modes: Vec<u8>,
    /// Profiles we accept in an offer (their decoders can decode our Constrained Baseline, and we
    /// decode them). Default: Constrained Baseline, Baseline, Main, Constrained High, High.
    pub accept_profiles: Vec<H264Profile>,
}

impl Default for H264Config {
    fn default() -> Self {
        H264Config {
            profile_level_id: ProfileLevelId::CONSTRAINED_BASELINE_3_1,
            packetization_modes: vec![1, 0],
            accept_profiles: vec![
                H264Profile::ConstrainedBaseline,
                H264Profile::Baseline,
                H264Profile::Main,
                H264Profile::ConstrainedHigh,
                H264Profile::High,
            ],
        }
    }
}

/// H.264 fmtp parameters (RFC 6184 §8.1). In a negotiated stream: the agreed
/// `profile-level-id`/`packetization-mode` plus the remote's receive limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct H264Params {
    /// `profile-level-id` as given (absent: [`ProfileLevelId::DEFAULT`] applies).
    pub profile_level_id: Option<ProfileLevelId>,
    /// `packetization-mode` (absent: 0).
    pub packetization_mode: u8,
    /// `level-asymmetry-allowed=1`.
    pub level_asymmetry_allowed: bool,
    /// `max-mbps`: macroblocks per second.
    pub max_mbps: Option<u32>,
    /// `max-smbps`: static macroblocks per second.
    pub max_smbps: Option<u32>,
    /// `max-fs`: frame size in macroblocks.
    pub max_fs: Option<u32>,
    /// `max-cpb`: coded picture buffer.
    pub max_cpb: Option<u32>,
    /// `max-dpb`: decoded picture buffer.
    pub max_dpb: Option<u32>,
    /// `max-br`: bitrate in 1000 (VCL) or 1200 (NAL) bit/s units.
    pub max_br: Option<u32>,
    /// `sprop-parameter-sets`: base64 SPS,PPS.
    pub sprop_parameter_sets: Option<String>,
}

impl H264Params {
    /// Reads an fmtp string. `Err` (with the reason) when `profile-level-id` or
    /// `packetization-mode` is unreadable: such a payload type cannot be answered.
    pub fn parse(fmtp: Option<&str>) -> Result<Self, String> {
        let mut p = H264Params::default();
        for (key, value) in fmtp_params(fmtp.unwrap_or("")) {
            let num = || value.parse::<u32>().ok();
            match key.as_str() {
                "profile-level-id" => {
                    p.profile_level_id = Some(
                        ProfileLevelId::parse(&value)
                            .ok_or_else(|| format!("bad profile-level-id {value:?}"))?,
                    )
                }
                "packetization-mode" => {
                    p.packetization_mode = value
                        .parse()
                        .ok()
                        .filter(|m| *m <= 2)
                        .ok_or_else(|| format!("bad packetization-mode {value:?}"))?
                }
                "level-asymmetry-allowed" => p.level_asymmetry_allowed = value == "1",
                "max-mbps" => p.max_mbps = num(),
                "max-smbps" => p.max_smbps = num(),
                "max-fs" => p.max_fs = num(),
                "max-cpb" => p.max_cpb = num(),
                "max-dpb" => p.max_dpb = num(),
                "max-br" => p.max_br = num(),
                "sprop-parameter-sets" => p.sprop_parameter_sets = Some(value),
                _ => {}
            }
        }
        Ok(p)
    }

    /// The profile-level-id in force: the given one or the RFC default.
    pub fn effective_profile_level_id(&self) -> ProfileLevelId {
        self.profile_level_id.unwrap_or(ProfileLevelId::DEFAULT)
    }

    /// `profile-level-id=..;packetization-mode=..` as written in our offers and answers.
    pub fn to_fmtp(&self) -> String {
        format!(
            "profile-level-id={};packetization-mode={}",
            self.effective_profile_level_id(),
            self.packetization_mode
        )
    }
}

/// How much we like an acceptable offered H.264 format; lower is better.
pub(crate) fn preference(offered: &H264Params, config: &H264Config) -> (usize, usize) {
    let profile_rank = match offered.effective_profile_level_id().profile() {
        H264Profile::ConstrainedBaseline => 0,
        H264Profile::Baseline => 1,
        H264Profile::ConstrainedHigh => 2,
        H264Profile::Main => 3,
        _ => 4,
    };
    let mode_rank = config
        .packetization_modes
        .iter()
        .position(|m| *m == offered.packetization_mode)
        .unwrap_or(usize::MAX);
    (profile_rank, mode_rank)
}

/// Answers one offered H.264 format (see the module documentation for the rule): the
/// parameters both sides use, or `None` if we cannot accept it. The remote's receive limits
/// (`max-*`, `sprop-parameter-sets`) are kept in the result for the encoder.
pub fn answer_h264(offered: &H264Params, config: &H264Config) -> Option<H264Params> {
    if !config
        .packetization_modes
        .contains(&offered.packetization_mode)
    {
        return None;
    }
    let offered_id = offered.effective_profile_level_id();
    let profile = offered_id.profile();
    let decodes_constrained_baseline = matches!(
        profile,
        H264Profile::ConstrainedBaseline
            | H264Profile::Baseline
            | H264Profile::Main
            | H264Profile::ConstrainedHigh
            | H264Profile::High
    );
    if !decodes_constrained_baseline || !config.accept_profiles.contains(&profile) {
        return None;
    }
    let ours = config.profile_level_id;
    let answer_id = if offered_id.level_order() <= ours.level_order() {
        offered_id
    } else {
        offered_id.with_level_of(ours)
    };
    Some(H264Params {
        profile_level_id: Some(answer_id),
        level_asymmetry_allowed: false,
        ..offered.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plid(s: &str) -> ProfileLevelId {
        ProfileLevelId::parse(s).unwrap()
    }

    fn offer(fmtp: &str) -> H264Params {
        H264Params::parse(Some(fmtp)).unwrap()
    }

    fn answered(fmtp: &str) -> Option<String> {
        answer_h264(&offer(fmtp), &H264Config::default()).map(|p| p.to_fmtp())
    }

    #[test]
    fn profiles_per_rfc_6184_table_5() {
        use H264Profile::*;
        for (id, profile) in [
            ("42e01f", ConstrainedBaseline),
            ("42c01e", ConstrainedBaseline),
            ("42401f", ConstrainedBaseline),
            ("4de01f", ConstrainedBaseline),
            ("4d801f", ConstrainedBaseline),
            ("58c01f", ConstrainedBaseline),
            ("42001f", Baseline),
            ("42801f", Baseline),
            ("428016", Baseline),
            ("58801f", Baseline),
            ("4d001f", Main),
            ("4d401f", Main),
            ("58001f", Extended),
            ("640028", High),
            ("640c1f", ConstrainedHigh),
            ("6e001f", Other),
            ("f4001f", Other),
            ("42e11f", Other), // reserved bits set
        ] {
            assert_eq!(plid(id).profile(), profile, "{id}");
        }
    }

    #[test]
    fn profile_level_id_parses_only_six_hex_digits() {
        assert_eq!(plid("42E01F"), ProfileLevelId::CONSTRAINED_BASELINE_3_1);
        assert_eq!(plid("42e01f").to_string(), "42e01f");
        for bad in ["", "42e01", "42e01f0", "zz0000", "+42e01", "42e0 1"] {
            assert_eq!(ProfileLevelId::parse(bad), None, "{bad:?}");
        }
        assert!(H264Params::parse(Some("profile-level-id=xyz")).is_err());
        assert!(H264Params::parse(Some("packetization-mode=3")).is_err());
    }

    #[test]
    fn level_1b_orders_between_1_and_1_1() {
        let l1 = plid("42e00a");
        let l1b_baseline = plid("42f00b"); // constraint_set3 + level_idc 11
        let l1_1 = plid("42e00b");
        let l1b_high = plid("640009");
        assert!(l1b_baseline.is_level_1b() && !l1_1.is_level_1b() && l1b_high.is_level_1b());
        assert!(l1.level_order() < l1b_baseline.level_order());
        assert!(l1b_baseline.level_order() < l1_1.level_order());
        assert_eq!(l1b_high.level_order(), l1b_baseline.level_order());
    }

    #[test]
    fn answer_level_is_the_lower_of_ours_and_offered() {
        assert_eq!(
            answered("profile-level-id=42e01f;packetization-mode=1").unwrap(),
            "profile-level-id=42e01f;packetization-mode=1"
        );
        assert_eq!(
            answered("profile-level-id=42e028;packetization-mode=1").unwrap(),
            "profile-level-id=42e01f;packetization-mode=1"
        );
        assert_eq!(
            answered("profile-level-id=42e016").unwrap(),
            "profile-level-id=42e016;packetization-mode=0"
        );
        assert_eq!(
            answered("profile-level-id=42f00b").unwrap(),
            "profile-level-id=42f00b;packetization-mode=0",
            "1b kept"
        );
        // Higher level with the 1b flag set in a Baseline offer: the flag goes with the level.
        assert_eq!(
            answered("profile-level-id=42f028").unwrap(),
            "profile-level-id=42e01f;packetization-mode=0"
        );
        // No profile-level-id: Baseline level 1 (RFC 6184 §8.1), accepted and repeated explicitly.
        assert_eq!(
            answered("packetization-mode=1").unwrap(),
            "profile-level-id=42000a;packetization-mode=1"
        );
    }

    #[test]
    fn answer_keeps_the_offered_profile() {
        assert_eq!(
            answered("profile-level-id=4d0028;packetization-mode=1").unwrap(),
            "profile-level-id=4d001f;packetization-mode=1"
        );
        assert_eq!(
            answered("profile-level-id=640c34;packetization-mode=1").unwrap(),
            "profile-level-id=640c1f;packetization-mode=1"
        );
        assert_eq!(
            answered("profile-level-id=640015").unwrap(),
            "profile-level-id=640015;packetization-mode=0"
        );
    }

    #[test]
    fn unacceptable_offers_are_refused() {
        assert_eq!(
            answered("profile-level-id=42e01f;packetization-mode=2"),
            None,
            "interleaved mode"
        );
        assert_eq!(answered("profile-level-id=58001f"), None, "Extended");
        assert_eq!(answered("profile-level-id=6e001f"), None, "High 10");
        let baseline_only = H264Config {
            accept_profiles: vec![H264Profile::ConstrainedBaseline],
            ..H264Config::default()
        };
        assert!(answer_h264(&offer("profile-level-id=42801f"), &baseline_only).is_none());
        assert!(answer_h264(&offer("profile-level-id=42e01f"), &baseline_only).is_some());
        let mode0_only = H264Config {
            packetization_modes: vec![0],
            ..H264Config::default()
        };
        assert!(
            answer_h264(
                &offer("profile-level-id=42e01f;packetization-mode=1"),
                &mode0_only
            )
            .is_none()
        );
    }

    #[test]
    fn a_lower_maximum_level_of_ours_applies() {
        let config = H264Config {
            profile_level_id: plid("42e015"),
            ..H264Config::default()
        };
        let p = answer_h264(
            &offer("profile-level-id=42801f;packetization-mode=1"),
            &config,
        )
        .unwrap();
        assert_eq!(p.to_fmtp(), "profile-level-id=428015;packetization-mode=1");
        let config_1b = H264Config {
            profile_level_id: plid("42f00b"),
            ..H264Config::default()
        };
        let p = answer_h264(&offer("profile-level-id=42e01f"), &config_1b).unwrap();
        assert_eq!(p.effective_profile_level_id(), plid("42f00b"));
        let p = answer_h264(&offer("profile-level-id=64001f"), &config_1b).unwrap();
        assert_eq!(p.effective_profile_level_id(), plid("640009"));
    }

    #[test]
    fn fmtp_parameters_are_typed() {
        let p = offer(
            "profile-level-id=42e016; max-mbps=489600;max-fs=36864;max-smbps=489600; MAX-BR=5000;\
                       packetization-mode=1;level-asymmetry-allowed=1;sprop-parameter-sets=Z0LAHtkA,aM4G4g==",
        );
        assert_eq!(p.packetization_mode, 1);
        assert!(p.level_asymmetry_allowed);
        assert_eq!(
            (p.max_mbps, p.max_smbps, p.max_fs, p.max_br),
            (Some(489600), Some(489600), Some(36864), Some(5000))
        );
        assert_eq!(p.sprop_parameter_sets.as_deref(), Some("Z0LAHtkA,aM4G4g=="));
        assert_eq!(
            H264Params::parse(None)
                .unwrap()
                .effective_profile_level_id(),
            ProfileLevelId::DEFAULT
        );
    }

    #[test]
    fn preference_puts_constrained_baseline_and_our_mode_first() {
        let config = H264Config::default();
        let mut offered = [
            offer("profile-level-id=42001f;packetization-mode=1"),
            offer("profile-level-id=42e01f;packetization-mode=0"),
            offer("profile-level-id=4d001f;packetization-mode=1"),
            offer("profile-level-id=42e01f;packetization-mode=1"),
        ];
        offered.sort_by_key(|p| preference(p, &config));
        assert_eq!(
            offered[0].to_fmtp(),
            "profile-level-id=42e01f;packetization-mode=1"
        );
        assert_eq!(
            offered[1].to_fmtp(),
            "profile-level-id=42e01f;packetization-mode=0"
        );
    }
}
