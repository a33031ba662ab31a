//! Who goes into which pane, for one viewer.
//!
//! **Input.** The conference's display order (active speaker, then recent speakers, then join
//! order: [`super::speaker::SpeakerTracker::display_order`]) with each participant's role and
//! media flags, the viewer, the layout and the service rules.
//!
//! **Rule.** Panes are filled in pane order (mains, then thumbnails) from the display order with
//! the viewer removed — nobody sees themselves. So the main pane shows the active speaker, except
//! to the active speaker, who sees the previous speaker there (what Pexip does in 1:0). Fewer
//! participants than panes leaves the last panes [`PaneFill::Empty`].
//!
//! **Tiles.** A participant with video is [`Tile::Video`]; with video muted, [`Tile::VideoMuted`]
//! (the pipeline draws a placeholder); an audio-only participant, [`Tile::NameTile`] (the pipeline
//! renders their name). The audio-muted flag rides along for an indicator.
//!
//! **Overflow.** Pexip: "If there are more video participants than there are live thumbnail views
//! available, the last thumbnail is replaced by an icon indicating the number of additional
//! participants not currently visible" (docs.pexip.com v14 `changing_layout.htm`). With
//! [`AssignOptions::overflow_indicator`] (the default) the last pane of a multi-pane layout becomes
//! [`PaneFill::Overflow`] when not everyone fits.
//!
//! **Virtual Auditorium** (`lecture`). Hosts see Hosts first, then Guests. Guests see Hosts only
//! ("Guests only see Host participants", terraform-provider-infinity `guest_view`), and other
//! Guests according to `guests_can_see_guests`: `always` — after the Hosts; `no_hosts` (the
//! default) — only while no Host is in the conference; `never` — not at all, so a Guest with no
//! Host present gets an all-empty picture (the pipeline shows a splash screen). Pexip's help text:
//! "If enabled, when the Host leaves the conference Guests will see other Guests. If disabled,
//! Guests will see a splash screen."

use super::catalog::Layout;
use super::participant::{Participant, ParticipantId, Role};

/// `guests_can_see_guests` for a Virtual Auditorium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GuestsCanSeeGuests {
    /// `no_hosts`: Guests see Guests only while no Host is present.
    #[default]
    NoHosts,
    /// `never`.
    Never,
    /// `always`: Guests see Guests after the Hosts.
    Always,
}

impl GuestsCanSeeGuests {
    /// The configuration value.
    pub fn as_pexip(self) -> &'static str {
        match self {
            GuestsCanSeeGuests::NoHosts => "no_hosts",
            GuestsCanSeeGuests::Never => "never",
            GuestsCanSeeGuests::Always => "always",
        }
    }

    /// Parses the configuration value.
    pub fn from_pexip(s: &str) -> Option<Self> {
        match s {
            "no_hosts" => Some(GuestsCanSeeGuests::NoHosts),
            "never" => Some(GuestsCanSeeGuests::Never),
            "always" => Some(GuestsCanSeeGuests::Always),
            _ => None,
        }
    }
}

/// Which visibility rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Service {
    /// A Virtual Meeting Room: everyone sees everyone else.
    #[default]
    Meeting,
    /// A Virtual Auditorium (`service_type` `lecture`).
    Auditorium(GuestsCanSeeGuests),
}

/// Options for [`assign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AssignOptions {
    /// Visibility rules.
    pub service: Service,
    /// Replace the last pane with a "+N" indicator when not everyone fits (Pexip does).
    pub overflow_indicator: bool,
}

impl Default for AssignOptions {
    fn default() -> Self {
        AssignOptions { service: Service::Meeting, overflow_indicator: true }
    }
}

/// How a participant is drawn in a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tile {
    /// Their video.
    Video,
    /// A placeholder: they have a video channel but send no picture.
    VideoMuted,
    /// Their name: they have no video at all.
    NameTile,
}

/// What one pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneFill {
    /// Nothing (background).
    Empty,
    /// A participant.
    Participant {
        /// Who.
        id: ParticipantId,
        /// How.
        tile: Tile,
        /// Draw a muted-microphone indicator.
        audio_muted: bool,
    },
    /// "+N": this many participants the viewer may see are not shown.
    Overflow {
        /// How many.
        hidden: usize,
    },
}

impl PaneFill {
    /// The participant shown, if any.
    pub fn participant(&self) -> Option<ParticipantId> {
        match self {
            PaneFill::Participant { id, .. } => Some(*id),
            _ => None,
        }
    }

    fn of(p: &Participant) -> PaneFill {
        let tile = if p.audio_only {
            Tile::NameTile
        } else if p.video_muted {
            Tile::VideoMuted
        } else {
            Tile::Video
        };
        PaneFill::Participant { id: p.id, tile, audio_muted: p.audio_muted }
    }
}

/// One viewer's picture: a layout and what each of its panes shows, in pane order
/// ([`super::geometry::panes`]). Two viewers with equal assignments (at the same resolution) see
/// exactly the same picture, which is what [`super::encoders`] relies on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The layout.
    pub layout: Layout,
    /// One entry per pane; always [`Layout::capacity`] entries.
    pub panes: Vec<PaneFill>,
}

impl Assignment {
    /// The participants shown, in pane order.
    pub fn shown(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.panes.iter().filter_map(PaneFill::participant)
    }

    /// Whether nothing at all is shown (the pipeline may draw a splash screen instead).
    pub fn is_empty(&self) -> bool {
        self.panes.iter().all(|p| *p == PaneFill::Empty)
    }
}

/// The participants `viewer` may see, in the order they fill panes (the viewer excluded).
/// A viewer missing from `order` (a recorder, say) is treated as a Guest in an Auditorium.
pub fn visible_order(order: &[Participant], viewer: ParticipantId, service: Service) -> Vec<&Participant> {
    let others = || order.iter().filter(move |p| p.id != viewer);
    let hosts = others().filter(|p| p.role == Role::Host);
    let guests = others().filter(|p| p.role == Role::Guest);
    match service {
        Service::Meeting => others().collect(),
        Service::Auditorium(policy) => {
            let viewer_role = order.iter().find(|p| p.id == viewer).map_or(Role::Guest, |p| p.role);
            let any_host = order.iter().any(|p| p.role == Role::Host);
            let guests_visible = match (viewer_role, policy) {
                (Role::Host, _) | (Role::Guest, GuestsCanSeeGuests::Always) => true,
                (Role::Guest, GuestsCanSeeGuests::NoHosts) => !any_host,
                (Role::Guest, GuestsCanSeeGuests::Never) => false,
            };
            let mut v: Vec<&Participant> = hosts.collect();
            if guests_visible {
                v.extend(guests);
            }
            v
        }
    }
}

/// Fills `layout`'s panes for `viewer` from the display `order`.
pub fn assign(layout: Layout, order: &[Participant], viewer: ParticipantId, options: &AssignOptions) -> Assignment {
    let visible = visible_order(order, viewer, options.service);
    let capacity = layout.capacity();
    let mut panes: Vec<PaneFill> = visible.iter().take(capacity).map(|p| PaneFill::of(p)).collect();
    if options.overflow_indicator && capacity > 1 && visible.len() > capacity {
        panes[capacity - 1] = PaneFill::Overflow { hidden: visible.len() - (capacity - 1) };
    }
    panes.resize(capacity, PaneFill::Empty);
    Assignment { layout, panes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(n: u64) -> Vec<Participant> {
        (1..=n).map(Participant::new).collect()
    }

    fn ids(a: &Assignment) -> Vec<u64> {
        a.shown().map(|p| p.0).collect()
    }

    const PLAIN: AssignOptions = AssignOptions { service: Service::Meeting, overflow_indicator: false };

    #[test]
    fn nobody_sees_themselves_in_any_layout() {
        let order = people(30);
        for layout in Layout::ALL {
            for viewer in &order {
                let a = assign(layout, &order, viewer.id, &AssignOptions::default());
                assert_eq!(a.panes.len(), layout.capacity());
                assert!(a.shown().all(|p| p != viewer.id), "{layout}: {viewer:?} sees themselves");
            }
        }
    }

    #[test]
    fn panes_follow_the_order_with_the_viewer_removed() {
        let order = people(10);
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(3), &PLAIN);
        assert_eq!(ids(&a), [1, 2, 4, 5, 6, 7, 8, 9]);
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(10), &PLAIN);
        assert_eq!(ids(&a), [1, 2, 3, 4, 5, 6, 7, 8]);
        let a = assign(Layout::FourMainsZeroPips, &order, ParticipantId(1), &PLAIN);
        assert_eq!(ids(&a), [2, 3, 4, 5]);
    }

    #[test]
    fn one_plus_zero_shows_the_speaker_or_to_the_speaker_the_previous_one() {
        // Display order: 5 is speaking, 2 spoke before, then the rest.
        let order: Vec<Participant> = [5, 2, 1, 3, 4].map(Participant::new).to_vec();
        for viewer in [1, 2, 3, 4] {
            let a = assign(Layout::OneMainZeroPips, &order, ParticipantId(viewer), &AssignOptions::default());
            assert_eq!(ids(&a), [5], "viewer {viewer}");
        }
        let a = assign(Layout::OneMainZeroPips, &order, ParticipantId(5), &AssignOptions::default());
        assert_eq!(ids(&a), [2]);
        // 1:0 never shows an overflow indicator: there is no thumbnail to replace.
        assert!(matches!(a.panes[0], PaneFill::Participant { .. }));
    }

    #[test]
    fn two_mains_take_the_two_first() {
        let order = people(5);
        let a = assign(Layout::TwoMainsTwentyOnePips, &order, ParticipantId(1), &PLAIN);
        assert_eq!(ids(&a)[..2], [2, 3]);
        let a = assign(Layout::TwoMainsTwentyOnePips, &order, ParticipantId(4), &PLAIN);
        assert_eq!(ids(&a)[..2], [1, 2]);
    }

    #[test]
    fn tiles_reflect_media_flags() {
        let order = vec![
            Participant::new(1),
            Participant::new(2).audio_only(),
            Participant::new(3).video_muted(),
            Participant::new(4).audio_muted(),
            Participant::new(5).audio_only().video_muted(),
        ];
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(9), &AssignOptions::default());
        let p = |id, tile, audio_muted| PaneFill::Participant { id: ParticipantId(id), tile, audio_muted };
        assert_eq!(
            a.panes[..5],
            [
                p(1, Tile::Video, false),
                p(2, Tile::NameTile, false),
                p(3, Tile::VideoMuted, false),
                p(4, Tile::Video, true),
                p(5, Tile::NameTile, false),
            ]
        );
    }

    #[test]
    fn fewer_participants_leave_empty_panes() {
        let order = people(3);
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(1), &AssignOptions::default());
        assert_eq!(ids(&a), [2, 3]);
        assert_eq!(a.panes[2..], [PaneFill::Empty; 6]);
        assert!(!a.is_empty());
        let alone = assign(Layout::NineMainsZeroPips, &people(1), ParticipantId(1), &AssignOptions::default());
        assert!(alone.is_empty());
        assert_eq!(alone.panes.len(), 9);
        let nobody = assign(Layout::OneMainZeroPips, &[], ParticipantId(1), &AssignOptions::default());
        assert_eq!(nobody.panes, [PaneFill::Empty]);
    }

    #[test]
    fn overflow_replaces_the_last_pane_when_not_everyone_fits() {
        let order = people(20);
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(1), &AssignOptions::default());
        // 19 others, 7 shown, 12 hidden.
        assert_eq!(ids(&a), [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(a.panes[7], PaneFill::Overflow { hidden: 12 });
        // Exactly full: no indicator.
        let a = assign(Layout::OneMainSevenPips, &people(9), ParticipantId(1), &AssignOptions::default());
        assert_eq!(ids(&a), [2, 3, 4, 5, 6, 7, 8, 9]);
        // Switched off: the last pane is a participant.
        let a = assign(Layout::OneMainSevenPips, &order, ParticipantId(1), &PLAIN);
        assert_eq!(ids(&a), [2, 3, 4, 5, 6, 7, 8, 9]);
        // Grids too.
        let a = assign(Layout::FourMainsZeroPips, &order, ParticipantId(20), &AssignOptions::default());
        assert_eq!(a.panes[3], PaneFill::Overflow { hidden: 16 });
    }

    fn auditorium(policy: GuestsCanSeeGuests) -> AssignOptions {
        AssignOptions { service: Service::Auditorium(policy), overflow_indicator: false }
    }

    /// Display order G1 H2 G3 H4 G5 (a Guest is the active speaker).
    fn lecture() -> Vec<Participant> {
        vec![
            Participant::new(1).guest(),
            Participant::new(2),
            Participant::new(3).guest(),
            Participant::new(4),
            Participant::new(5).guest(),
        ]
    }

    #[test]
    fn auditorium_hosts_see_hosts_first_then_guests() {
        for policy in [GuestsCanSeeGuests::NoHosts, GuestsCanSeeGuests::Never, GuestsCanSeeGuests::Always] {
            let a = assign(Layout::OneMainSevenPips, &lecture(), ParticipantId(2), &auditorium(policy));
            assert_eq!(ids(&a), [4, 1, 3, 5], "{policy:?}");
        }
    }

    #[test]
    fn auditorium_guests_see_only_hosts_unless_always() {
        for policy in [GuestsCanSeeGuests::NoHosts, GuestsCanSeeGuests::Never] {
            let a = assign(Layout::OneMainSevenPips, &lecture(), ParticipantId(3), &auditorium(policy));
            assert_eq!(ids(&a), [2, 4], "{policy:?}");
        }
        let a = assign(Layout::OneMainSevenPips, &lecture(), ParticipantId(3), &auditorium(GuestsCanSeeGuests::Always));
        assert_eq!(ids(&a), [2, 4, 1, 5]);
    }

    #[test]
    fn auditorium_guests_without_hosts() {
        let guests: Vec<Participant> = lecture().into_iter().filter(|p| p.role == Role::Guest).collect();
        let no_hosts =
            assign(Layout::OneMainSevenPips, &guests, ParticipantId(3), &auditorium(GuestsCanSeeGuests::NoHosts));
        assert_eq!(ids(&no_hosts), [1, 5]);
        let always =
            assign(Layout::OneMainSevenPips, &guests, ParticipantId(3), &auditorium(GuestsCanSeeGuests::Always));
        assert_eq!(ids(&always), [1, 5]);
        let never = assign(Layout::OneMainSevenPips, &guests, ParticipantId(3), &auditorium(GuestsCanSeeGuests::Never));
        assert!(never.is_empty(), "splash screen");
    }

    #[test]
    fn auditorium_host_alone_with_guests_sees_the_guests() {
        let order = vec![Participant::new(1).guest(), Participant::new(2), Participant::new(3).guest()];
        let a = assign(Layout::OneMainZeroPips, &order, ParticipantId(2), &auditorium(GuestsCanSeeGuests::Never));
        assert_eq!(ids(&a), [1]);
        // And a guest sees that lone host in the main pane.
        let a = assign(Layout::OneMainZeroPips, &order, ParticipantId(1), &auditorium(GuestsCanSeeGuests::Never));
        assert_eq!(ids(&a), [2]);
    }

    #[test]
    fn an_unknown_viewer_is_an_auditorium_guest_and_a_meeting_observer() {
        let a = assign(Layout::OneMainSevenPips, &lecture(), ParticipantId(99), &auditorium(GuestsCanSeeGuests::Never));
        assert_eq!(ids(&a), [2, 4]);
        let a = assign(Layout::OneMainSevenPips, &lecture(), ParticipantId(99), &PLAIN);
        assert_eq!(ids(&a), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn policy_names_convert_both_ways() {
        for p in [GuestsCanSeeGuests::NoHosts, GuestsCanSeeGuests::Never, GuestsCanSeeGuests::Always] {
            assert_eq!(GuestsCanSeeGuests::from_pexip(p.as_pexip()), Some(p));
        }
        assert_eq!(GuestsCanSeeGuests::default().as_pexip(), "no_hosts");
        assert_eq!(GuestsCanSeeGuests::from_pexip("sometimes"), None);
    }
}
