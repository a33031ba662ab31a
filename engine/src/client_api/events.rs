//! The Client API's `events` stream (pexip.md §2, "SSE `GET events` names"): on connect a
//! roster snapshot (`participant_sync_begin`, one `participant_create` each,
//! `participant_sync_end`) and the `conference_update`; then `participant_create`,
//! `participant_update`, `participant_delete` and `conference_update` as the conference changes,
//! and `disconnect` when the subscriber's own participant is gone.
//!
//! The [`EventHub`] actor receives every conference's status reports from the node supervisor
//! (the same reports the management node gets), keeps the last one per conference, and turns
//! each new one into events by difference: conferences need no knowledge of the Client API.
//! The conversions and the difference are pure functions.

use std::collections::{BTreeMap, HashMap};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use uuid::Uuid;

use crate::conference::{ConferenceEnded, ConferenceUpdate};

fn yes_no(v: &Value) -> &'static str {
    if v.as_bool() == Some(true) { "YES" } else { "NO" }
}

/// A participant as the Client API shows it, from the node's status object.
pub fn client_participant(p: &Value) -> Value {
    let name = p["display_name"].as_str().unwrap_or("");
    let waiting = p["is_waiting"].as_bool() == Some(true);
    json!({
        "uuid": p["id"],
        "display_name": name,
        "overlay_text": name,
        "role": p["role"],
        "protocol": p["protocol"],
        "service_type": if waiting { json!("waiting_room") } else { p["service_type"].clone() },
        "is_muted": yes_no(&p["is_muted"]),
        "is_video_muted": yes_no(&p["is_video_muted"]),
        "is_client_muted": "NO",
        "is_presenting": yes_no(&p["is_presenting"]),
        "mute_supported": "YES",
        "transfer_supported": "NO",
        "disconnect_supported": "YES",
        "buzz_time": 0,
        "spotlight": p["spotlight"].as_u64().unwrap_or(0),
        "call_tag": "",
        "start_time": p["connect_time"],
    })
}

/// The `conference_update` event's fields, from the node's conference status object.
pub fn conference_state(c: &Value) -> Value {
    json!({
        "locked": c["is_locked"].as_bool().unwrap_or(false),
        "started": c["is_started"].as_bool().unwrap_or(false),
        "guests_muted": c["guests_muted"].as_bool().unwrap_or(false),
        "presentation_allowed": true,
        "guests_can_unmute": false,
    })
}

/// The `layout` event's fields, from the node's conference status object.
pub fn layout_state(c: &Value) -> Value {
    json!({
        "view": c["host_layout"],
        "requested_layout": {"primary_screen": {"chair_layout": c["host_layout"], "guest_layout": c["guest_layout"]}},
        "overlay_text_enabled": c["overlay_text_enabled"].as_bool().unwrap_or(false),
    })
}

fn presentation_start(presenter: &Value) -> Value {
    json!({"presenter_name": presenter["name"], "presenter_uuid": presenter["uuid"], "source": "participant"})
}

/// One conference as last reported: its state, layout and participants by uuid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub conference: Value,
    pub layout: Value,
    /// The `stage` event's list.
    pub stage: Value,
    /// Who presents (`{uuid, name}`), or null.
    pub presenter: Value,
    pub participants: BTreeMap<String, Value>,
}

impl Snapshot {
    pub fn from_update(u: &ConferenceUpdate) -> Snapshot {
        let participants = u
            .participants
            .iter()
            .filter_map(|p| Some((p["id"].as_str()?.to_string(), client_participant(p))))
            .collect();
        Snapshot {
            conference: conference_state(&u.conference),
            layout: layout_state(&u.conference),
            stage: u.conference.get("stage").cloned().unwrap_or(Value::Null),
            presenter: u.conference.get("presenter").cloned().unwrap_or(Value::Null),
            participants,
        }
    }

    /// The events that take a client from `self` to `next`.
    pub fn diff(&self, next: &Snapshot) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        for (id, p) in &next.participants {
            match self.participants.get(id) {
                None => out.push(("participant_create", p.clone())),
                Some(old) if old != p => out.push(("participant_update", p.clone())),
                Some(_) => {}
            }
        }
        for id in self.participants.keys().filter(|id| !next.participants.contains_key(*id)) {
            out.push(("participant_delete", json!({"uuid": id})));
        }
        if self.conference != next.conference {
            out.push(("conference_update", next.conference.clone()));
        }
        if self.layout != next.layout && !next.layout.is_null() {
            out.push(("layout", next.layout.clone()));
        }
        if self.stage != next.stage && !next.stage.is_null() {
            out.push(("stage", next.stage.clone()));
        }
        if self.presenter != next.presenter {
            if !self.presenter.is_null() {
                out.push(("presentation_stop", json!({})));
            }
            if !next.presenter.is_null() {
                out.push(("presentation_start", presentation_start(&next.presenter)));
            }
        }
        out
    }

    /// The events a new subscriber starts with.
    pub fn sync(&self) -> Vec<(&'static str, Value)> {
        let mut out = vec![("participant_sync_begin", Value::Null)];
        out.extend(self.participants.values().map(|p| ("participant_create", p.clone())));
        out.push(("participant_sync_end", Value::Null));
        out.push(("conference_update", self.conference.clone()));
        if !self.layout.is_null() {
            out.push(("layout", self.layout.clone()));
        }
        if !self.presenter.is_null() {
            out.push(("presentation_start", presentation_start(&self.presenter)));
        }
        out
    }
}

/// One server-sent event.
pub fn sse(event: &str, data: &Value, id: u64) -> String {
    format!("event: {event}\nid: {id}\ndata: {data}\n\n")
}

struct Subscriber {
    conference: String,
    participant: Uuid,
    tx: UnboundedSender<String>,
    next_id: u64,
}

impl Subscriber {
    fn send(&mut self, event: &str, data: &Value) -> bool {
        self.next_id += 1;
        self.tx.send(sse(event, data, self.next_id)).is_ok()
    }
}

/// Keeps the last report of every conference and feeds the subscribers' streams.
#[derive(Default)]
pub struct EventHub {
    conferences: HashMap<String, Snapshot>,
    subscribers: Vec<Subscriber>,
}

impl Actor for EventHub {
    type Context = Context<Self>;
}

/// Opens an event stream for `participant` in `conference`.
#[derive(Message)]
#[rtype(result = "UnboundedReceiver<String>")]
pub struct Subscribe {
    pub conference: String,
    pub participant: Uuid,
}

/// A chat message (`message_received`) from `origin` to everyone in `conference` with an open
/// event stream, or only to `to` (a direct message).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Chat {
    pub conference: String,
    pub from: Uuid,
    pub origin: String,
    pub to: Option<Uuid>,
    pub kind: String,
    pub payload: String,
}

impl Handler<Chat> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Chat, _: &mut Context<Self>) {
        let data = json!({"origin": msg.origin, "uuid": msg.from, "type": msg.kind, "payload": msg.payload, "direct": msg.to.is_some()});
        self.subscribers.retain_mut(|s| {
            if s.conference != msg.conference || msg.to.is_some_and(|to| to != s.participant) {
                return true;
            }
            s.send("message_received", &data)
        });
    }
}

/// The last snapshot of a conference.
#[derive(Message)]
#[rtype(result = "Option<Snapshot>")]
pub struct GetSnapshot(pub String);

impl Handler<Subscribe> for EventHub {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = unbounded_channel();
        let mut sub = Subscriber { conference: msg.conference, participant: msg.participant, tx, next_id: 0 };
        let snapshot = self.conferences.get(&sub.conference).cloned().unwrap_or_default();
        for (event, data) in snapshot.sync() {
            sub.send(event, &data);
        }
        self.subscribers.push(sub);
        MessageResult(rx)
    }
}

impl Handler<GetSnapshot> for EventHub {
    type Result = Option<Snapshot>;

    fn handle(&mut self, msg: GetSnapshot, _: &mut Context<Self>) -> Option<Snapshot> {
        self.conferences.get(&msg.0).cloned()
    }
}

impl Handler<ConferenceUpdate> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: ConferenceUpdate, _: &mut Context<Self>) {
        let next = Snapshot::from_update(&msg);
        let old = self.conferences.insert(msg.name.clone(), next.clone()).unwrap_or_default();
        let events = old.diff(&next);
        let members: Vec<Uuid> = msg.members.clone();
        self.subscribers.retain_mut(|s| {
            if s.conference != msg.name {
                return true;
            }
            let mut open = events.iter().all(|(e, d)| s.send(e, d));
            if !members.contains(&s.participant) {
                let reason = msg.departed.iter().find(|(id, _)| *id == s.participant).map_or("Disconnected", |(_, r)| r.as_str());
                open &= s.send("disconnect", &json!({"reason": reason}));
                return false;
            }
            open
        });
    }
}

impl Handler<ConferenceEnded> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: ConferenceEnded, _: &mut Context<Self>) {
        self.conferences.remove(&msg.name);
        self.subscribers.retain_mut(|s| {
            if s.conference != msg.name {
                return true;
            }
            s.send("disconnect", &json!({"reason": "Conference ended"}));
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, name: &str, muted: bool) -> Value {
        json!({"id": id, "display_name": name, "role": "chair", "protocol": "sip", "service_type": "conference",
               "is_muted": muted, "is_presenting": false, "connect_time": "2026-11-25T10:00:00.000000"})
    }

    fn snap(conf: Value, people: &[Value]) -> Snapshot {
        Snapshot {
            conference: conference_state(&conf),
            layout: Value::Null,
            stage: Value::Null,
            presenter: Value::Null,
            participants: people.iter().map(|p| (p["id"].as_str().unwrap().to_string(), client_participant(p))).collect(),
        }
    }

    #[test]
    fn participants_in_client_api_shape() {
        let p = client_participant(&status("a", "Ann", true));
        assert_eq!(p["uuid"], "a");
        assert_eq!(p["is_muted"], "YES");
        assert_eq!(p["role"], "chair");
        assert_eq!(p["service_type"], "conference");
        let mut w = status("b", "Bo", false);
        w["is_waiting"] = json!(true);
        assert_eq!(client_participant(&w)["service_type"], "waiting_room");
        assert_eq!(conference_state(&json!({"is_locked": true, "is_started": true}))["locked"], true);
    }

    #[test]
    fn differences_become_events() {
        let conf = json!({"is_locked": false, "is_started": true, "guests_muted": false});
        let a = snap(conf.clone(), &[status("a", "Ann", false), status("b", "Bo", false)]);
        let b = snap(json!({"is_locked": true, "is_started": true}), &[status("a", "Ann", true), status("c", "Cy", false)]);
        let events: Vec<(&str, String)> = a.diff(&b).into_iter().map(|(e, d)| (e, d["uuid"].as_str().unwrap_or("").to_string())).collect();
        assert_eq!(
            events,
            [("participant_update", "a".into()), ("participant_create", "c".into()), ("participant_delete", "b".into()), ("conference_update", "".into())]
        );
        assert!(b.diff(&b).is_empty());
        let sync: Vec<&str> = a.sync().into_iter().map(|(e, _)| e).collect();
        assert_eq!(sync, ["participant_sync_begin", "participant_create", "participant_create", "participant_sync_end", "conference_update"]);
        assert_eq!(sse("x", &json!({"a": 1}), 7), "event: x\nid: 7\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn layout_changes_become_layout_events() {
        let at = |host: &str| Snapshot { layout: layout_state(&json!({"host_layout": host, "guest_layout": "1:7"})), ..Snapshot::default() };
        let (a, b) = (at("1:7"), at("2x2"));
        let events = a.diff(&b);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "layout");
        assert_eq!(events[0].1["view"], "2x2");
        assert_eq!(events[0].1["requested_layout"]["primary_screen"]["guest_layout"], "1:7");
        assert!(b.sync().iter().any(|(e, _)| *e == "layout"));
    }
}
