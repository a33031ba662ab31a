//! Where a node finds the services its aliases reach, and the global settings: the database
//! itself (`convene up`, blocking calls moved off the actor thread with `spawn_blocking`), the
//! management node's internal API (`convene node`), or a fixed table (tests, embedding).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::node::SECRET_HEADER;

#[derive(Clone)]
pub enum ServiceDirectory {
    Db(convene_schema::Db),
    Manager { url: String, secret: String, http: reqwest::Client },
    /// Services by lower-cased alias, and the global settings.
    Static(Arc<Mutex<StaticDirectory>>),
}

#[derive(Default, Debug)]
pub struct StaticDirectory {
    pub services: HashMap<String, Value>,
    pub global: Map<String, Value>,
}

impl ServiceDirectory {
    pub fn manager(url: &str, secret: &str) -> ServiceDirectory {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
        ServiceDirectory::Manager { url: url.trim_end_matches('/').to_string(), secret: secret.to_string(), http }
    }

    /// A fixed directory: `(alias, service)` pairs.
    pub fn fixed(services: impl IntoIterator<Item = (String, Value)>) -> ServiceDirectory {
        let services = services.into_iter().map(|(a, s)| (a.to_lowercase(), s)).collect();
        ServiceDirectory::Static(Arc::new(Mutex::new(StaticDirectory { services, global: Map::new() })))
    }

    /// The service (a `conference` configuration object) an alias reaches.
    pub async fn lookup(&self, alias: &str) -> Result<Option<Value>, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let (db, alias) = (db.clone(), alias.to_string());
                tokio::task::spawn_blocking(move || convene_schema::store::config::service_by_alias(&db, &alias))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http
                    .get(format!("{url}/api/internal/v1/service"))
                    .query(&[("alias", alias)])
                    .header(SECRET_HEADER, secret)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                match r.status().as_u16() {
                    200 => r.json().await.map(Some).map_err(|e| e.to_string()),
                    404 => Ok(None),
                    s => Err(format!("the management node answered {s}")),
                }
            }
            ServiceDirectory::Static(d) => Ok(d.lock().expect("directory").services.get(&alias.to_lowercase()).cloned()),
        }
    }

    /// The `global` settings object.
    pub async fn global(&self) -> Result<Map<String, Value>, String> {
        match self {
            ServiceDirectory::Db(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || convene_schema::store::config::global(&db))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            ServiceDirectory::Manager { url, secret, http } => {
                let r = http.get(format!("{url}/api/internal/v1/global")).header(SECRET_HEADER, secret).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("the management node answered {}", r.status()));
                }
                r.json().await.map_err(|e| e.to_string())
            }
            ServiceDirectory::Static(d) => Ok(d.lock().expect("directory").global.clone()),
        }
    }
}

/// The global settings a conference uses (defaults as in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Globals {
    pub guests_only_timeout: Duration,
    pub waiting_for_chair_timeout: Duration,
    pub media_ports: (u16, u16),
}

impl Default for Globals {
    fn default() -> Self {
        Globals { guests_only_timeout: Duration::from_secs(60), waiting_for_chair_timeout: Duration::from_secs(900), media_ports: (40000, 49999) }
    }
}

impl Globals {
    pub fn from_json(g: &Map<String, Value>) -> Globals {
        let d = Globals::default();
        let int = |k: &str| g.get(k).and_then(Value::as_u64);
        let port = |k: &str, def: u16| int(k).and_then(|v| u16::try_from(v).ok()).unwrap_or(def);
        Globals {
            guests_only_timeout: int("guests_only_timeout").map(Duration::from_secs).unwrap_or(d.guests_only_timeout),
            waiting_for_chair_timeout: int("waiting_for_chair_timeout").map(Duration::from_secs).unwrap_or(d.waiting_for_chair_timeout),
            media_ports: (port("media_ports_start", d.media_ports.0), port("media_ports_end", d.media_ports.1)),
        }
    }
}
