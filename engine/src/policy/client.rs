//! Asking an external policy server: an async HTTP GET (reqwest) with a time limit and a cap on
//! the answer's size, so a slow or hostile server costs a call a bounded wait and never blocks
//! the node's actors (the request runs on the runtime, not on an actor's thread).

use std::time::Duration;

use super::profile::PolicyProfile;
use super::response::{Verdict, parse_http};

/// How long a policy request may take before the node falls back to its own configuration.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Policy answers are small; anything bigger is refused.
pub const MAX_BODY: usize = 256 * 1024;

pub const SERVICE_CONFIGURATION: &str = "/policy/v1/service/configuration";
pub const PARTICIPANT_PROPERTIES: &str = "/policy/v1/participant/properties";
pub const PARTICIPANT_LOCATION: &str = "/policy/v1/participant/location";

/// One client (and connection pool) per thread: pooled connections belong to the runtime that
/// made them, and a node's calls all run on its supervisor's thread.
pub(crate) fn client() -> reqwest::Client {
    thread_local! {
        static C: reqwest::Client = reqwest::Client::builder()
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Convene/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client");
    }
    C.with(Clone::clone)
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

    /// A loopback server that answers every connection with `answer` after `delay` (or never).
    async fn server(answer: Vec<u8>, delay: Option<Duration>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    match delay {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                    let _ = s.write_all(&answer).await;
                });
            }
        });
        url
    }

    fn profile(url: String) -> PolicyProfile {
        PolicyProfile { url, enable_service_lookup: true, ..Default::default() }
    }

    #[actix_rt::test]
    async fn answers_limits_and_time_outs() {
        let ok = br#"{"status":"success","action":"reject"}"#;
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", ok.len(), String::from_utf8_lossy(ok));
        let url = server(resp.into_bytes(), Some(Duration::ZERO)).await;
        assert_eq!(ask(&profile(url), SERVICE_CONFIGURATION, &[("local_alias", "sip:a@b".into())], TIMEOUT).await, Ok(Verdict::Reject));
        // A server that never answers costs the time limit, no more.
        let url = server(Vec::new(), None).await;
        let started = std::time::Instant::now();
        let e = ask(&profile(url), SERVICE_CONFIGURATION, &[], Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{e}");
        // An endless body is cut off.
        let mut big = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_BODY * 4).into_bytes();
        big.extend(std::iter::repeat_n(b' ', MAX_BODY * 4));
        let url = server(big, Some(Duration::ZERO)).await;
        let e = ask(&profile(url), SERVICE_CONFIGURATION, &[], TIMEOUT).await.unwrap_err();
        assert!(e.contains("larger"), "{e}");
        // Not HTTP at all.
        let url = server(b"SSH-2.0-OpenSSH\r\n".to_vec(), Some(Duration::ZERO)).await;
        assert!(ask(&profile(url), SERVICE_CONFIGURATION, &[], TIMEOUT).await.is_err());
    }
}
