//! Asking an external policy server: an async HTTP GET (reqwest) with a time limit and a cap on
//! the answer's size, so a slow or hostile server costs a call a bounded wait and never blocks
//! the node's actors (the request runs on the runtime, not on an actor's thread).

use std::sync::OnceLock;
use std::time::Duration;

use super::profile::PolicyProfile;
use super::response::{Verdict, parse_http};

/// How long a policy request may take before the node falls back to its own configuration.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Policy answers are small; anything bigger is refused.
pub const MAX_BODY: usize = 256 * 1024;

pub const SERVICE_CONFIGURATION: &str = "/policy/v1/service/configuration";
pub const PARTICIPANT_PROPERTIES: &str = "/policy/v1/participant/properties";

fn client() -> &'static reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Convene/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client")
    })
}

/// The URL of a request type under a profile's base URL.
pub fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim().trim_end_matches('/'))
}

/// GETs `path` with `query` from the profile's server and reads the answer.
pub async fn ask(profile: &PolicyProfile, path: &str, query: &[(&str, String)], timeout: Duration) -> Result<Verdict, String> {
    let mut req = client().get(url(&profile.url, path)).query(query).timeout(timeout);
    if !profile.username.is_empty() {
        req = req.basic_auth(&profile.username, Some(&profile.password));
    }
    let fetch = async move {
        let mut r = req.send().await.map_err(|e| describe(&e))?;
        let status = r.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the policy response is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_http(status, &body)
    };
    // The overall limit also covers a body that trickles in.
    tokio::time::timeout(timeout, fetch).await.map_err(|_| format!("no policy answer within {} ms", timeout.as_millis()))?
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the policy request timed out".into()
    } else if e.is_connect() {
        format!("cannot reach the policy server: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(url("http://p.example.com/", SERVICE_CONFIGURATION), "http://p.example.com/policy/v1/service/configuration");
        assert_eq!(url(" http://p/base ", PARTICIPANT_PROPERTIES), "http://p/base/policy/v1/participant/properties");
    }
}
