//! Who is in the conference, as the layout logic sees them: an id, a role and media flags.

/// A participant's handle inside one conference, assigned by the conference actor (for example
/// in join order). Small, `Copy` and ordered so every decision here can be deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(pub u64);

/// Host or Guest. On Pexip's Client API wire these are `chair` and `guest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Host (`chair`): in a VMR without guests everyone is a Host.
    #[default]
    Host,
    /// Guest (`guest`).
    Guest,
}

impl Role {
    /// The Client API spelling: `chair` or `guest`.
    pub fn as_pexip(self) -> &'static str {
        match self {
            Role::Host => "chair",
            Role::Guest => "guest",
        }
    }

    /// Parses the Client API spelling (`chair`, `guest`); `host` is accepted for `chair`.
    pub fn from_pexip(s: &str) -> Option<Role> {
        match s {
            "chair" | "host" => Some(Role::Host),
            "guest" => Some(Role::Guest),
            _ => None,
        }
    }
}

/// What the layout needs to know about one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Participant {
    /// The participant's conference-local id.
    pub id: ParticipantId,
    /// Host or Guest.
    pub role: Role,
    /// Joined without video at all (telephone, audio-only client): shown as a name tile.
    pub audio_only: bool,
    /// Has a video channel but sends no picture (camera off, video muted).
    pub video_muted: bool,
    /// Audio muted (self-muted or muted by a Host): never the active speaker, not mixed.
    pub audio_muted: bool,
}

impl Participant {
    /// A Host with audio and video, nothing muted.
    pub fn new(id: u64) -> Self {
        Participant {
            id: ParticipantId(id),
            role: Role::Host,
            audio_only: false,
            video_muted: false,
            audio_muted: false,
        }
    }

    /// The same participant with another role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// The same participant as a Guest.
    pub fn guest(self) -> Self {
        self.with_role(Role::Guest)
    }

    /// The same participant without video.
    pub fn audio_only(mut self) -> Self {
        self.audio_only = true;
        self
    }

    /// The same participant with video muted.
    pub fn video_muted(mut self) -> Self {
        self.video_muted = true;
        self
    }

    /// The same participant with audio muted.
    pub fn audio_muted(mut self) -> Self {
        self.audio_muted = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_use_the_client_api_spelling() {
        assert_eq!(Role::Host.as_pexip(), "chair");
        assert_eq!(Role::Guest.as_pexip(), "guest");
        assert_eq!(Role::from_pexip("chair"), Some(Role::Host));
        assert_eq!(Role::from_pexip("host"), Some(Role::Host));
        assert_eq!(Role::from_pexip("guest"), Some(Role::Guest));
        assert_eq!(Role::from_pexip("Guest"), None);
    }

    #[test]
    fn builders_set_one_flag_each() {
        let p = Participant::new(7).guest().audio_only().video_muted().audio_muted();
        assert_eq!(p.id, ParticipantId(7));
        assert_eq!(p.role, Role::Guest);
        assert!(p.audio_only && p.video_muted && p.audio_muted);
        let q = Participant::new(8);
        assert_eq!(q.role, Role::Host);
        assert!(!q.audio_only && !q.video_muted && !q.audio_muted);
    }
}
