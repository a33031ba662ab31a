//! Participant avatars (reference §3, `/policy/v1/participant/avatar/<remote_alias>`): the JPEG
//! an audio-only participant is shown as, on their name tile.
//!
//! Routing decides whether to ask (the profile enables avatar look-ups and has a URL) and builds
//! an [`AvatarRequest`]; the conference asks, asynchronously, once the participant's media turns
//! out to be audio-only, and hands the bytes to the media. Only a 200 whose body is a JPEG
//! (starts with the JPEG start-of-image marker) of at most [`MAX_AVATAR`] bytes counts; a 404,
//! any other status, a time-out or anything else leaves the plain name tile.

use std::time::Duration;

use super::client;
use super::profile::PolicyProfile;

/// Bigger answers are refused.
pub const MAX_AVATAR: usize = 2 * 1024 * 1024;
/// The picture asked for: a name tile's size.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;

/// Where and how to ask for one participant's avatar.
#[derive(Clone, PartialEq, Eq)]
pub struct AvatarRequest {
    pub base_url: String,
    pub username: String,
    pub password: String,
    pub remote_alias: String,
    pub query: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for AvatarRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No password in logs.
        f.debug_struct("AvatarRequest").field("base_url", &self.base_url).field("remote_alias", &self.remote_alias).finish_non_exhaustive()
    }
}

impl AvatarRequest {
    /// The request for a participant (`query`: the participant query; the wanted size is
    /// added), when the profile asks for avatars.
    pub fn new(profile: &PolicyProfile, remote_alias: &str, mut query: Vec<(&'static str, String)>) -> Option<AvatarRequest> {
        if !profile.enable_avatar_lookup || profile.url.trim().is_empty() || remote_alias.is_empty() {
            return None;
        }
        query.push(("width", WIDTH.to_string()));
        query.push(("height", HEIGHT.to_string()));
        Some(AvatarRequest {
            base_url: profile.url.clone(),
            username: profile.username.clone(),
            password: profile.password.clone(),
            remote_alias: remote_alias.to_string(),
            query,
        })
    }

    /// The request URL: the alias is one path segment (percent-encoded where it must be).
    pub fn url(&self) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&client::url(&self.base_url, "/policy/v1/participant/avatar")).map_err(|e| e.to_string())?;
        url.path_segments_mut().map_err(|_| "the policy URL cannot have a path".to_string())?.push(&self.remote_alias);
        Ok(url)
    }
}

/// Whether bytes are a JPEG (SOI marker, then another marker).
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.len() > 4 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
}

/// Asks for the avatar: the JPEG, or why there is none.
pub async fn fetch(req: &AvatarRequest, timeout: Duration) -> Result<Vec<u8>, String> {
    let url = req.url()?;
    let mut r = client::client().get(url).query(&req.query).timeout(timeout);
    if !req.username.is_empty() {
        r = r.basic_auth(&req.username, Some(&req.password));
    }
    let fetch = async move {
        let mut resp = r.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("the policy server answered {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_AVATAR {
                return Err(format!("the avatar is larger than {MAX_AVATAR} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        if !is_jpeg(&body) {
            return Err("the avatar is not a JPEG".into());
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| format!("no avatar within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(url: &str) -> PolicyProfile {
        PolicyProfile { url: url.into(), enable_avatar_lookup: true, ..Default::default() }
    }

    #[test]
    fn requests_and_urls() {
        assert!(AvatarRequest::new(&PolicyProfile { enable_avatar_lookup: false, ..profile("http://p") }, "sip:a@b", vec![]).is_none());
        assert!(AvatarRequest::new(&profile(" "), "sip:a@b", vec![]).is_none());
        let r = AvatarRequest::new(&profile("http://p.example.com/base/"), "sip:alice@example.com", vec![("protocol", "sip".into())]).unwrap();
        assert_eq!(r.url().unwrap().as_str(), "http://p.example.com/base/policy/v1/participant/avatar/sip:alice@example.com");
        assert!(r.query.contains(&("protocol", "sip".into())) && r.query.contains(&("width", "640".into())));
        // Characters that would change the path are encoded.
        let r = AvatarRequest::new(&profile("http://p"), "sip:a/b?c#d@x", vec![]).unwrap();
        assert_eq!(r.url().unwrap().path(), "/policy/v1/participant/avatar/sip:a%2Fb%3Fc%23d@x");
        assert!(!format!("{r:?}").contains("password"));
    }

    #[test]
    fn jpeg_magic() {
        assert!(is_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]));
        assert!(!is_jpeg(b"<html>"));
        assert!(!is_jpeg(&[0xFF, 0xD8]));
        assert!(!is_jpeg(&[0x89, b'P', b'N', b'G', 0, 0]));
    }

    /// A loopback server answering every request with `answer`.
    async fn server(answer: Vec<u8>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&answer).await;
                });
            }
        });
        url
    }

    fn http(status: u16, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {status} X\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[actix_rt::test]
    async fn fetches_and_refuses() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4];
        let url = server(http(200, &jpeg)).await;
        let req = AvatarRequest::new(&profile(&url), "sip:a@b", vec![]).unwrap();
        assert_eq!(fetch(&req, Duration::from_secs(5)).await.unwrap(), jpeg);
        let url = server(http(404, b"")).await;
        let req = AvatarRequest::new(&profile(&url), "sip:a@b", vec![]).unwrap();
        assert!(fetch(&req, Duration::from_secs(5)).await.unwrap_err().contains("404"));
        let url = server(http(200, b"{\"status\":\"success\"}")).await;
        let req = AvatarRequest::new(&profile(&url), "sip:a@b", vec![]).unwrap();
        assert!(fetch(&req, Duration::from_secs(5)).await.unwrap_err().contains("JPEG"));
        // A server that never answers costs the time limit.
        let url = server(Vec::new()).await;
        let req = AvatarRequest::new(&profile(&url), "sip:a@b", vec![]).unwrap();
        assert!(fetch(&req, Duration::from_millis(300)).await.is_err());
    }
}
