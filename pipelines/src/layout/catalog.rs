//! The Pexip layouts Convene draws: their names in configuration and on the Client API, how many
//! participants each shows, and the order a Host's `*8` steps through them.
//!
//! Names: configuration (`host_view`, `guest_view`) uses `one_main_seven_pips` and friends
//! (terraform-provider-infinity `resource_infinity_conference.go`); the Client API
//! (`transform_layout`, `available_layouts`) uses `1:7`, `4:0`, … (pexip.md §5). Labels such as
//! `1+7` and `2x2` are the ones Pexip's documentation and DTMF help use.
//!
//! Not implemented (parsing them answers [`LayoutNameError::NotImplemented`]): Adaptive
//! Composition (`five_mains_seven_pips`, `5:7`, `ac`) needs face detection; `1:33`
//! (`one_main_thirtythree_pips`) has no public geometry we could confirm; `teams` and the
//! policy-only layouts (`one_main_one_pip`, `one_main_nine_around`, `one_main_twelve_around`,
//! `two_mains_eight_around`).

use std::fmt;
use std::str::FromStr;

/// A composited layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Layout {
    /// `1:0`, `one_main_zero_pips`: full-screen main speaker only.
    OneMainZeroPips,
    /// `1:7`, `one_main_seven_pips`: large main speaker and up to 7 other participants. Pexip's
    /// default (<https://docs.pexip.com/admin/changing_layout.htm>).
    #[default]
    OneMainSevenPips,
    /// `1:21`, `one_main_twentyone_pips`: main speaker and up to 21 other participants.
    OneMainTwentyOnePips,
    /// `2:21`, `two_mains_twentyone_pips`: two main speakers and up to 21 other participants.
    TwoMainsTwentyOnePips,
    /// `4:0`, `four_mains_zero_pips`: 2x2.
    FourMainsZeroPips,
    /// `9:0`, `nine_mains_zero_pips`: 3x3.
    NineMainsZeroPips,
    /// `16:0`, `sixteen_mains_zero_pips`: 4x4.
    SixteenMainsZeroPips,
    /// `25:0`, `twentyfive_mains_zero_pips`: 5x5.
    TwentyFiveMainsZeroPips,
}

/// Why a layout name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutNameError {
    /// Not a layout name at all.
    #[error("unknown layout {0:?}")]
    Unknown(String),
    /// A real Pexip layout that Convene does not draw.
    #[error("layout {0:?} is not supported by Convene")]
    NotImplemented(String),
}

/// Pexip names Convene recognises but does not draw.
const NOT_IMPLEMENTED: &[&str] = &[
    "five_mains_seven_pips",
    "5:7",
    "ac",
    "one_main_thirtythree_pips",
    "1:33",
    "1+33",
    "teams",
    "one_main_one_pip",
    "one_main_nine_around",
    "one_main_twelve_around",
    "two_mains_eight_around",
];

impl Layout {
    /// Every implemented layout, in `*8` cycle order.
    pub const ALL: [Layout; 8] = [
        Layout::OneMainSevenPips,
        Layout::OneMainTwentyOnePips,
        Layout::TwoMainsTwentyOnePips,
        Layout::FourMainsZeroPips,
        Layout::NineMainsZeroPips,
        Layout::SixteenMainsZeroPips,
        Layout::TwentyFiveMainsZeroPips,
        Layout::OneMainZeroPips,
    ];

    /// The configuration name (`host_view`, `guest_view`).
    pub fn config_name(self) -> &'static str {
        match self {
            Layout::OneMainZeroPips => "one_main_zero_pips",
            Layout::OneMainSevenPips => "one_main_seven_pips",
            Layout::OneMainTwentyOnePips => "one_main_twentyone_pips",
            Layout::TwoMainsTwentyOnePips => "two_mains_twentyone_pips",
            Layout::FourMainsZeroPips => "four_mains_zero_pips",
            Layout::NineMainsZeroPips => "nine_mains_zero_pips",
            Layout::SixteenMainsZeroPips => "sixteen_mains_zero_pips",
            Layout::TwentyFiveMainsZeroPips => "twentyfive_mains_zero_pips",
        }
    }

    /// The Client API id (`transform_layout`, `available_layouts`).
    pub fn client_id(self) -> &'static str {
        match self {
            Layout::OneMainZeroPips => "1:0",
            Layout::OneMainSevenPips => "1:7",
            Layout::OneMainTwentyOnePips => "1:21",
            Layout::TwoMainsTwentyOnePips => "2:21",
            Layout::FourMainsZeroPips => "4:0",
            Layout::NineMainsZeroPips => "9:0",
            Layout::SixteenMainsZeroPips => "16:0",
            Layout::TwentyFiveMainsZeroPips => "25:0",
        }
    }

    /// The label Pexip's documentation uses (`1+7`, `2x2`, …).
    pub fn label(self) -> &'static str {
        match self {
            Layout::OneMainZeroPips => "1+0",
            Layout::OneMainSevenPips => "1+7",
            Layout::OneMainTwentyOnePips => "1+21",
            Layout::TwoMainsTwentyOnePips => "2+21",
            Layout::FourMainsZeroPips => "2x2",
            Layout::NineMainsZeroPips => "3x3",
            Layout::SixteenMainsZeroPips => "4x4",
            Layout::TwentyFiveMainsZeroPips => "5x5",
        }
    }

    /// Parses a configuration name (`one_main_seven_pips`).
    pub fn from_config_name(name: &str) -> Result<Layout, LayoutNameError> {
        Self::lookup(name, Layout::config_name)
    }

    /// Parses a Client API id (`1:7`, `4:0`).
    pub fn from_client_id(id: &str) -> Result<Layout, LayoutNameError> {
        Self::lookup(id, Layout::client_id)
    }

    fn lookup(s: &str, name: fn(Layout) -> &'static str) -> Result<Layout, LayoutNameError> {
        if let Some(layout) = Self::ALL.into_iter().find(|l| name(*l) == s) {
            Ok(layout)
        } else if NOT_IMPLEMENTED.contains(&s) {
            Err(LayoutNameError::NotImplemented(s.to_string()))
        } else {
            Err(LayoutNameError::Unknown(s.to_string()))
        }
    }

    /// How many participants the layout shows at once (main panes plus thumbnails).
    pub fn capacity(self) -> usize {
        self.mains() + self.thumbnails()
    }

    /// Main panes: the large ones in speaker layouts, every pane in a grid.
    pub fn mains(self) -> usize {
        match self {
            Layout::OneMainZeroPips | Layout::OneMainSevenPips | Layout::OneMainTwentyOnePips => 1,
            Layout::TwoMainsTwentyOnePips => 2,
            Layout::FourMainsZeroPips => 4,
            Layout::NineMainsZeroPips => 9,
            Layout::SixteenMainsZeroPips => 16,
            Layout::TwentyFiveMainsZeroPips => 25,
        }
    }

    /// Thumbnail panes ("pips").
    pub fn thumbnails(self) -> usize {
        match self {
            Layout::OneMainSevenPips => 7,
            Layout::OneMainTwentyOnePips | Layout::TwoMainsTwentyOnePips => 21,
            _ => 0,
        }
    }

    /// The layout a Host's `*8` switches to. Pexip cycles 1+7 → AC → 1+21 → 2+21 → 2x2 → 3x3 →
    /// 4x4 → 5x5 → 1+0 → 1+33 (<https://docs.pexip.com/admin/controlling_layout.htm>); Convene
    /// skips the two it does not draw (AC and 1+33), so 1+0 wraps round to 1+7.
    pub fn next_in_cycle(self) -> Layout {
        let i = Self::ALL.iter().position(|l| *l == self).expect("ALL lists every layout");
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

impl fmt::Display for Layout {
    /// The Client API id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.client_id())
    }
}

impl FromStr for Layout {
    type Err = LayoutNameError;

    /// Accepts a configuration name, a Client API id or a documentation label.
    fn from_str(s: &str) -> Result<Layout, LayoutNameError> {
        Layout::from_config_name(s).or_else(|_| Layout::from_client_id(s)).or_else(|_| Self::lookup(s, Layout::label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: [(Layout, &str, &str, &str, usize); 8] = [
        (Layout::OneMainZeroPips, "one_main_zero_pips", "1:0", "1+0", 1),
        (Layout::OneMainSevenPips, "one_main_seven_pips", "1:7", "1+7", 8),
        (Layout::OneMainTwentyOnePips, "one_main_twentyone_pips", "1:21", "1+21", 22),
        (Layout::TwoMainsTwentyOnePips, "two_mains_twentyone_pips", "2:21", "2+21", 23),
        (Layout::FourMainsZeroPips, "four_mains_zero_pips", "4:0", "2x2", 4),
        (Layout::NineMainsZeroPips, "nine_mains_zero_pips", "9:0", "3x3", 9),
        (Layout::SixteenMainsZeroPips, "sixteen_mains_zero_pips", "16:0", "4x4", 16),
        (Layout::TwentyFiveMainsZeroPips, "twentyfive_mains_zero_pips", "25:0", "5x5", 25),
    ];

    #[test]
    fn names_convert_both_ways() {
        for (layout, config, client, label, capacity) in TABLE {
            assert_eq!(layout.config_name(), config);
            assert_eq!(layout.client_id(), client);
            assert_eq!(layout.label(), label);
            assert_eq!(layout.capacity(), capacity, "{layout}");
            assert_eq!(Layout::from_config_name(config), Ok(layout));
            assert_eq!(Layout::from_client_id(client), Ok(layout));
            assert_eq!(config.parse::<Layout>(), Ok(layout));
            assert_eq!(client.parse::<Layout>(), Ok(layout));
            assert_eq!(label.parse::<Layout>(), Ok(layout));
            assert_eq!(layout.to_string(), client);
        }
    }

    #[test]
    fn the_two_name_sets_do_not_mix() {
        assert_eq!(Layout::from_config_name("1:7"), Err(LayoutNameError::Unknown("1:7".into())));
        assert_eq!(
            Layout::from_client_id("one_main_seven_pips"),
            Err(LayoutNameError::Unknown("one_main_seven_pips".into()))
        );
        assert!(Layout::from_client_id("2x2").is_err(), "labels are not Client API ids");
    }

    #[test]
    fn unknown_and_unimplemented_names_are_told_apart() {
        for name in ["five_mains_seven_pips", "one_main_thirtythree_pips", "teams"] {
            assert_eq!(Layout::from_config_name(name), Err(LayoutNameError::NotImplemented(name.into())));
        }
        for id in ["5:7", "ac", "1:33"] {
            assert_eq!(Layout::from_client_id(id), Err(LayoutNameError::NotImplemented(id.into())));
        }
        for bad in ["", "1:8", "ONE_MAIN_SEVEN_PIPS", "one_main_seven_pips "] {
            assert_eq!(bad.parse::<Layout>(), Err(LayoutNameError::Unknown(bad.into())));
        }
        assert_eq!(
            LayoutNameError::NotImplemented("ac".into()).to_string(),
            "layout \"ac\" is not supported by Convene"
        );
    }

    #[test]
    fn default_is_one_plus_seven() {
        assert_eq!(Layout::default(), Layout::OneMainSevenPips);
    }

    #[test]
    fn star_eight_cycles_in_pexip_order_without_ac_and_1_33() {
        let mut seen = vec![Layout::OneMainSevenPips];
        let mut layout = Layout::OneMainSevenPips;
        for _ in 0..Layout::ALL.len() {
            layout = layout.next_in_cycle();
            seen.push(layout);
        }
        let ids: Vec<&str> = seen.iter().map(|l| l.client_id()).collect();
        assert_eq!(ids, ["1:7", "1:21", "2:21", "4:0", "9:0", "16:0", "25:0", "1:0", "1:7"]);
    }

    #[test]
    fn mains_plus_thumbnails_is_capacity() {
        for layout in Layout::ALL {
            assert_eq!(layout.mains() + layout.thumbnails(), layout.capacity());
            assert!(layout.mains() >= 1);
        }
    }
}
