//! In-call DTMF controls (Pexip's defaults, pexip.md "DTMF controls"): `*5` mute/unmute all
//! Guests, `*6` self-mute, `*7` lock/unlock, `*8` next layout, `##` end the conference. Pure: a
//! two-key state machine per participant.

/// A recognised control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `*5` (Hosts).
    ToggleGuestsMuted,
    /// `*6` (anyone).
    ToggleSelfMute,
    /// `*7` (Hosts).
    ToggleLock,
    /// `*8` (Hosts).
    NextLayout,
    /// `##` (Hosts).
    EndConference,
}

impl Control {
    /// Whether only Hosts may use it.
    pub fn hosts_only(self) -> bool {
        self != Control::ToggleSelfMute
    }
}

/// Keys pressed so far toward a control.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlKeys {
    first: Option<char>,
}

impl ControlKeys {
    /// Feeds one key; returns the control it completes, if any.
    pub fn press(&mut self, digit: char) -> Option<Control> {
        let control = match (self.first.take(), digit) {
            (Some('*'), '5') => Some(Control::ToggleGuestsMuted),
            (Some('*'), '6') => Some(Control::ToggleSelfMute),
            (Some('*'), '7') => Some(Control::ToggleLock),
            (Some('*'), '8') => Some(Control::NextLayout),
            (Some('#'), '#') => Some(Control::EndConference),
            _ => None,
        };
        if control.is_none() && matches!(digit, '*' | '#') {
            self.first = Some(digit);
        }
        control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &str) -> Vec<Control> {
        let mut k = ControlKeys::default();
        keys.chars().filter_map(|c| k.press(c)).collect()
    }

    #[test]
    fn sequences() {
        assert_eq!(run("*6"), [Control::ToggleSelfMute]);
        assert_eq!(run("*5*7*8"), [Control::ToggleGuestsMuted, Control::ToggleLock, Control::NextLayout]);
        assert_eq!(run("##"), [Control::EndConference]);
        assert_eq!(run("1*2*6"), [Control::ToggleSelfMute], "a stray key resets");
        assert_eq!(run("*#*6"), [Control::ToggleSelfMute]);
        assert_eq!(run("#*#"), Vec::<Control>::new());
        assert_eq!(run("*9*1"), Vec::<Control>::new(), "unassigned keys do nothing");
        assert!(!Control::ToggleSelfMute.hosts_only());
        assert!(Control::ToggleLock.hosts_only());
    }
}
