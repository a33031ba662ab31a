//! What every request handler shares.

use std::sync::Arc;

use convene_schema::Db;

use crate::auth::{CredentialCache, LoginLimiter};
use crate::live::Live;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub live: Arc<Live>,
    pub limiter: Arc<LoginLimiter>,
    pub credentials: Arc<CredentialCache>,
    /// Shared secret the conferencing nodes present on the internal API.
    pub node_secret: Arc<str>,
    /// Client for forwarding commands to the nodes.
    pub http: reqwest::Client,
    /// Progress and results of LDAP syncs.
    pub ldap: Arc<crate::ldap::SyncRegistry>,
    /// Whether dashboard cookies get the `Secure` flag (set when served over HTTPS).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(db: Db, node_secret: impl Into<Arc<str>>) -> Self {
        AppState {
            db,
            live: Arc::new(Live::default()),
            limiter: Arc::new(LoginLimiter::default()),
            credentials: Arc::new(CredentialCache::default()),
            node_secret: node_secret.into(),
            ldap: Arc::new(crate::ldap::SyncRegistry::default()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            secure_cookies: false,
        }
    }
}
