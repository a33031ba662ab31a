//! Client API tokens (pexip.md §2): `request_token` issues one per participant, every later
//! request carries it in the `token` header, `refresh_token` swaps it for a fresh one before it
//! expires, `release_token` ends it. Pure: the clock is passed in, so expiry is testable.
//!
//! A token is 32 random bytes in hex: unguessable, and meaningless outside this node's table
//! (no signing key to manage or leak). A refreshed token replaces the old one, which stays good
//! for [`GRACE`] so requests already on their way when the client refreshed still succeed; it
//! cannot be refreshed again, and its lapse does not end the participant.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How long a token lives without a refresh (Pexip clients refresh at about half of it).
pub const LIFETIME: Duration = Duration::from_secs(120);

/// How long a refreshed token keeps working.
pub const GRACE: Duration = Duration::from_secs(10);

/// Who a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub participant: Uuid,
    /// The conference's service name.
    pub conference: String,
    /// `chair` or `guest`.
    pub role: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Invalid token")]
    Unknown,
    #[error("Token expired")]
    Expired,
}

/// The node's live tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    live: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    grant: Grant,
    until: Instant,
    /// Replaced by a refresh: in its grace period.
    superseded: bool,
}

fn new_token() -> String {
    (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

impl Tokens {
    /// Issues a token for `grant`, valid until `now + LIFETIME`.
    pub fn issue(&mut self, grant: Grant, now: Instant) -> String {
        let token = new_token();
        self.live.insert(token.clone(), Entry { grant, until: now + LIFETIME, superseded: false });
        token
    }

    /// The grant behind a valid token.
    pub fn check(&self, token: &str, now: Instant) -> Result<&Grant, TokenError> {
        match self.live.get(token) {
            None => Err(TokenError::Unknown),
            Some(e) if e.until <= now => Err(TokenError::Expired),
            Some(e) => Ok(&e.grant),
        }
    }

    /// Replaces a valid token with a new one.
    pub fn refresh(&mut self, token: &str, now: Instant) -> Result<String, TokenError> {
        let grant = self.check(token, now)?.clone();
        let old = self.live.get_mut(token).expect("checked");
        if old.superseded {
            return Err(TokenError::Unknown);
        }
        old.superseded = true;
        old.until = old.until.min(now + GRACE);
        Ok(self.issue(grant, now))
    }

    /// Ends a token; returns its grant.
    pub fn release(&mut self, token: &str, now: Instant) -> Result<Grant, TokenError> {
        let participant = self.check(token, now)?.participant;
        let grant = self.live.remove(token).expect("checked").grant;
        self.forget_participant(participant);
        Ok(grant)
    }

    /// Drops expired tokens; returns the grants of those that were current (their participants
    /// should leave), not of refreshed ones whose grace ran out.
    pub fn expire(&mut self, now: Instant) -> Vec<Grant> {
        let gone: Vec<String> = self.live.iter().filter(|(_, e)| e.until <= now).map(|(t, _)| t.clone()).collect();
        gone.into_iter().filter_map(|t| self.live.remove(&t)).filter(|e| !e.superseded).map(|e| e.grant).collect()
    }

    /// Drops every token of a participant (they left by other means).
    pub fn forget_participant(&mut self, participant: Uuid) {
        self.live.retain(|_, e| e.grant.participant != participant);
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant { participant: Uuid::new_v4(), conference: "Room".into(), role: "chair".into(), display_name: "Ann".into() }
    }

    #[test]
    fn issue_check_refresh_release_expire() {
        let mut t = Tokens::default();
        let now = Instant::now();
        let g = grant();
        let a = t.issue(g.clone(), now);
        assert_eq!(a.len(), 64);
        assert_eq!(t.check(&a, now), Ok(&g));
        assert_eq!(t.check("nonsense", now), Err(TokenError::Unknown));
        assert_eq!(t.check(&a, now + LIFETIME), Err(TokenError::Expired));

        let b = t.refresh(&a, now + Duration::from_secs(60)).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.check(&a, now + Duration::from_secs(65)), Ok(&g), "the old token works during its grace");
        assert_eq!(t.check(&a, now + Duration::from_secs(70)), Err(TokenError::Expired), "and not after");
        assert_eq!(t.refresh(&a, now + Duration::from_secs(61)), Err(TokenError::Unknown), "a replaced token is not refreshed twice");
        assert!(t.expire(now + Duration::from_secs(71)).is_empty(), "its lapse does not end the participant");
        assert_eq!(t.check(&b, now + Duration::from_secs(170)), Ok(&g), "the new one runs from the refresh");
        assert_eq!(t.refresh(&b, now + Duration::from_secs(200)), Err(TokenError::Expired));

        let c = t.issue(grant(), now);
        assert_eq!(t.expire(now + Duration::from_secs(181)).len(), 2);
        assert!(t.is_empty());
        assert_eq!(t.release(&c, now), Err(TokenError::Unknown));

        let d = t.issue(g.clone(), now);
        assert_eq!(t.release(&d, now), Ok(g.clone()));
        assert_eq!(t.check(&d, now), Err(TokenError::Unknown));
        t.issue(g.clone(), now);
        t.forget_participant(g.participant);
        assert!(t.is_empty());
    }
}
