//! Who may have a token (pexip.md §2, "Token and PIN flow"): the PIN travels in the `pin`
//! header; without a needed PIN the answer is 403 `{"pin": "required", "guest_pin": …}`, where
//! `guest_pin: "none"` tells the client that Guests join by sending `pin: none`; a wrong PIN is a
//! 403 with a plain message. The same rules as SIP callers at the IVR ([`check_pin`]). Pure.

use serde_json::{Value, json};

use crate::participant::Role;
use crate::routing::{PinOutcome, ServiceInfo, check_pin, needs_pin};

/// Why a token is refused: the HTTP status and the `result` to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub result: Value,
}

impl Refusal {
    fn new(status: u16, result: Value) -> Refusal {
        Refusal { status, result }
    }
}

/// The role a `request_token` for `service` gets with the `pin` header `pin`.
pub fn admit(service: &ServiceInfo, pin: Option<&str>) -> Result<Role, Refusal> {
    match service.service_type.as_str() {
        "conference" | "lecture" | "test_call" => {}
        // A browser's gateway call: it placed the call, there is nobody to admit it.
        "gateway" => return Ok(Role::Chair),
        // The node asks for the meeting number first (`conference_extension`).
        "two_stage_dialing" => return Err(Refusal::new(403, json!({"conference_extension": "standard"}))),
        other => return Err(Refusal::new(403, json!(format!("Service type {other} cannot be joined from the Client API")))),
    }
    if !needs_pin(service) {
        return Ok(if service.allow_guests { Role::Guest } else { Role::Chair });
    }
    let Some(pin) = pin.map(str::trim) else {
        let guest_pin = if service.allow_guests && !service.guest_pin.is_empty() { "required" } else { "none" };
        return Err(Refusal::new(403, json!({"pin": "required", "guest_pin": guest_pin})));
    };
    let entered = if pin.eq_ignore_ascii_case("none") { "" } else { pin };
    match check_pin(entered, service) {
        PinOutcome::Chair => Ok(Role::Chair),
        PinOutcome::Guest => Ok(Role::Guest),
        PinOutcome::Wrong => Err(Refusal::new(403, json!("Invalid PIN"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(v: Value) -> ServiceInfo {
        ServiceInfo::from_json(&v)
    }

    #[test]
    fn pin_flow() {
        let open = service(json!({"name": "Open"}));
        assert_eq!(admit(&open, None), Ok(Role::Chair));
        let open_guests = service(json!({"name": "Open", "allow_guests": true}));
        assert_eq!(admit(&open_guests, None), Ok(Role::Guest));

        let host_only = service(json!({"name": "H", "pin": "123456", "allow_guests": true}));
        assert_eq!(admit(&host_only, None).unwrap_err().result, json!({"pin": "required", "guest_pin": "none"}));
        assert_eq!(admit(&host_only, Some("123456")), Ok(Role::Chair));
        assert_eq!(admit(&host_only, Some("123456#")), Ok(Role::Chair));
        assert_eq!(admit(&host_only, Some("none")), Ok(Role::Guest));
        assert_eq!(admit(&host_only, Some("999999")).unwrap_err(), Refusal::new(403, json!("Invalid PIN")));

        let both = service(json!({"name": "B", "pin": "123456", "guest_pin": "654321", "allow_guests": true}));
        assert_eq!(admit(&both, None).unwrap_err().result, json!({"pin": "required", "guest_pin": "required"}));
        assert_eq!(admit(&both, Some("654321")), Ok(Role::Guest));
        assert_eq!(admit(&both, Some("none")).unwrap_err().status, 403);

        let no_guests = service(json!({"name": "N", "pin": "123456"}));
        assert_eq!(admit(&no_guests, Some("none")).unwrap_err().result, json!("Invalid PIN"));

        let reception = service(json!({"name": "R", "service_type": "two_stage_dialing"}));
        assert_eq!(admit(&reception, None).unwrap_err().status, 403);
        assert_eq!(admit(&service(json!({"name": "T", "service_type": "test_call"})), None), Ok(Role::Chair));
    }
}
