//! Which policy applies to a node: its `worker_vm`'s system location and that location's
//! `policy_server` (policy profile), read from the database (`convene up`, and the management
//! node's internal API for separate nodes).

use convene_schema::Db;
use convene_schema::resources::{POLICY_SERVER, SYSTEM_LOCATION, WORKER_VM};
use convene_schema::store::config;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::NodeIdentity;

/// A policy profile (`policy_server` object), with its password readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyProfile {
    pub name: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub enable_service_lookup: bool,
    pub enable_participant_lookup: bool,
    pub enable_media_location_lookup: bool,
    pub enable_avatar_lookup: bool,
    pub enable_internal_service_policy: bool,
    pub enable_internal_participant_policy: bool,
    pub enable_internal_media_location_policy: bool,
    pub internal_service_policy_template: String,
    pub internal_participant_policy_template: String,
    pub internal_media_location_policy_template: String,
}

impl PolicyProfile {
    /// From a stored `policy_server` object (secrets are not in it: `password` is passed in).
    pub fn from_json(v: &Value, password: Option<String>) -> PolicyProfile {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        PolicyProfile {
            name: s("name"),
            url: s("url"),
            username: s("username"),
            password: password.unwrap_or_default(),
            enable_service_lookup: b("enable_service_lookup"),
            enable_participant_lookup: b("enable_participant_lookup"),
            enable_media_location_lookup: b("enable_media_location_lookup"),
            enable_avatar_lookup: b("enable_avatar_lookup"),
            enable_internal_service_policy: b("enable_internal_service_policy"),
            enable_internal_participant_policy: b("enable_internal_participant_policy"),
            enable_internal_media_location_policy: b("enable_internal_media_location_policy"),
            internal_service_policy_template: s("internal_service_policy_template"),
            internal_participant_policy_template: s("internal_participant_policy_template"),
            internal_media_location_policy_template: s("internal_media_location_policy_template"),
        }
    }

    /// Whether external service look-ups go anywhere.
    pub fn external_service(&self) -> bool {
        self.enable_service_lookup && !self.url.trim().is_empty()
    }

    pub fn external_participant(&self) -> bool {
        self.enable_participant_lookup && !self.url.trim().is_empty()
    }

    pub fn external_location(&self) -> bool {
        self.enable_media_location_lookup && !self.url.trim().is_empty()
    }

    pub fn local_location(&self) -> Option<&str> {
        Some(self.internal_media_location_policy_template.as_str())
            .filter(|t| self.enable_internal_media_location_policy && !t.trim().is_empty())
    }

    pub fn local_service(&self) -> Option<&str> {
        Some(self.internal_service_policy_template.as_str()).filter(|t| self.enable_internal_service_policy && !t.trim().is_empty())
    }

    pub fn local_participant(&self) -> Option<&str> {
        Some(self.internal_participant_policy_template.as_str()).filter(|t| self.enable_internal_participant_policy && !t.trim().is_empty())
    }
}

/// A node's location and the policy profile it uses (none: local configuration only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePolicy {
    pub node: NodeIdentity,
    pub profile: Option<PolicyProfile>,
}

/// The id at the end of a resource URI (`/api/admin/configuration/v1/x/12/` → 12).
pub fn uri_id(uri: &Value) -> Option<i64> {
    uri.as_str()?.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

/// Reads a node's policy from the database: an unknown node, or one without a location or a
/// policy profile, has none.
pub fn load(db: &Db, node_name: &str) -> Result<NodePolicy, String> {
    let err = |e: convene_schema::StoreError| e.to_string();
    let q = vec![("name".to_string(), node_name.to_string())];
    let vms = config::list(db, &WORKER_VM, &q).map_err(err)?;
    let Some(vm) = vms.objects.first() else { return Ok(NodePolicy::default()) };
    let mut policy = NodePolicy { node: NodeIdentity { location: String::new(), node_ip: vm["address"].as_str().unwrap_or("").to_string() }, profile: None };
    let Some(loc_id) = uri_id(&vm["system_location"]) else { return Ok(policy) };
    let loc = match config::get(db, &SYSTEM_LOCATION, loc_id) {
        Ok(l) => l,
        Err(convene_schema::StoreError::NotFound) => return Ok(policy),
        Err(e) => return Err(e.to_string()),
    };
    policy.node.location = loc["name"].as_str().unwrap_or("").to_string();
    let Some(ps_id) = uri_id(&loc["policy_server"]) else { return Ok(policy) };
    let ps = match config::get(db, &POLICY_SERVER, ps_id) {
        Ok(p) => p,
        Err(convene_schema::StoreError::NotFound) => return Ok(policy),
        Err(e) => return Err(e.to_string()),
    };
    let password = config::secret(db, &POLICY_SERVER, ps_id, "password").map_err(err)?;
    policy.profile = Some(PolicyProfile::from_json(&ps, password));
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uri_ids() {
        assert_eq!(uri_id(&json!("/api/admin/configuration/v1/policy_server/12/")), Some(12));
        assert_eq!(uri_id(&json!(null)), None);
        assert_eq!(uri_id(&json!("")), None);
    }

    /// A node's location and profile, from a real (SQLite) database.
    #[test]
    fn loads_from_the_database() {
        use convene_schema::store::secrets;
        secrets::install_key([7; 32]);
        let path = std::env::temp_dir().join(format!("convene-policy-profile-{}.sqlite3", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let db = Db::open(path.to_str().unwrap()).unwrap();
        assert_eq!(load(&db, "node1").unwrap(), NodePolicy::default());
        let ps = config::create(&db, &POLICY_SERVER, &json!({"name": "P", "url": "http://policy.example.com", "username": "u", "password": "pw-1",
            "enable_service_lookup": true, "enable_internal_service_policy": true, "internal_service_policy_template": "{{ 1 }}"})).unwrap();
        let loc = config::create(&db, &SYSTEM_LOCATION, &json!({"name": "Oslo", "policy_server": ps["resource_uri"]})).unwrap();
        config::create(&db, &WORKER_VM, &json!({"name": "node1", "hostname": "node1", "address": "10.0.0.5", "system_location": loc["resource_uri"]})).unwrap();
        let p = load(&db, "node1").unwrap();
        assert_eq!(p.node, NodeIdentity { location: "Oslo".into(), node_ip: "10.0.0.5".into() });
        let prof = p.profile.expect("a profile");
        assert_eq!((prof.url.as_str(), prof.username.as_str(), prof.password.as_str()), ("http://policy.example.com", "u", "pw-1"));
        assert!(prof.external_service() && prof.local_service() == Some("{{ 1 }}"));
        // A location without a profile: the location, no policy.
        let loc2 = config::create(&db, &SYSTEM_LOCATION, &json!({"name": "Bergen"})).unwrap();
        config::create(&db, &WORKER_VM, &json!({"name": "node2", "hostname": "node2", "address": "10.0.0.6", "system_location": loc2["resource_uri"]})).unwrap();
        let p = load(&db, "node2").unwrap();
        assert_eq!((p.node.location.as_str(), p.profile), ("Bergen", None));
        drop(db);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn switches() {
        let p = PolicyProfile::from_json(&json!({"url": "http://x", "enable_service_lookup": true, "enable_internal_service_policy": true, "internal_service_policy_template": " "}), None);
        assert!(p.external_service() && !p.external_participant());
        assert_eq!(p.local_service(), None);
        let p = PolicyProfile { url: " ".into(), ..p };
        assert!(!p.external_service());
    }
}
