//! Settings: command-line flags override `CONVENE_*` environment variables (and `DATABASE_URL`),
//! which override the TOML file given with `--config`, which overrides the defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The TOML file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub http: Option<SocketAddr>,
    pub node_name: Option<String>,
    pub manager_url: Option<String>,
    pub node_secret: Option<String>,
    pub sip: Option<SocketAddr>,
    pub media_address: Option<IpAddr>,
    pub control: Option<SocketAddr>,
    pub client_api: Option<SocketAddr>,
    pub turn_url: Option<String>,
    pub turn_username: Option<String>,
    pub turn_password: Option<String>,
    pub webrtc_relay_only: Option<bool>,
    pub sip_tls: Option<SocketAddr>,
    pub sip_tls_cert: Option<PathBuf>,
    pub sip_tls_key: Option<PathBuf>,
}

impl FileSettings {
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub http: SocketAddr,
    pub node_name: String,
    pub manager_url: String,
    /// `None`: read or create `<data_dir>/node_secret`.
    pub node_secret: Option<String>,
    /// SIP listen address (UDP and TCP).
    pub sip: SocketAddr,
    /// Address for RTP (SDP `c=`); the SIP address, or loopback when that is unspecified.
    pub media_address: IpAddr,
    /// The node control API's listen address (port 0: any free port).
    pub control: SocketAddr,
    /// Where the node serves the Pexip Client REST API v2 (browsers, Pexip clients).
    pub client_api: SocketAddr,
    /// A TURN server for WebRTC (`turn:host:port?transport=udp`), used by the node's bridges and
    /// handed to browsers in `request_token`'s `turn` list, with its long-term credentials.
    pub turn: Option<(String, String, String)>,
    /// WebRTC through TURN relays only (locked-down networks, tests).
    pub webrtc_relay_only: bool,
    /// SIP over TLS: listen address, certificate chain and key (PEM), when all three are set.
    pub sip_tls: Option<(SocketAddr, PathBuf, PathBuf)>,
}

pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub const DEFAULT_SIP: &str = "127.0.0.1:5060";
pub const DEFAULT_CLIENT_API: &str = "127.0.0.1:8081";
pub const DEFAULT_CONTROL: &str = "127.0.0.1:0";

/// Command-line and environment values (clap fills these from both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Directory for the embedded database and generated secrets.
    #[arg(long, env = "CONVENE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… for PostgreSQL; otherwise a SQLite file (default <data-dir>/convene.sqlite3).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Address of the management node's HTTP server (dashboard and APIs).
    #[arg(long, env = "CONVENE_HTTP")]
    pub http: Option<SocketAddr>,
    /// The Conferencing Node's name (a configured worker_vm).
    #[arg(long, env = "CONVENE_NODE_NAME")]
    pub node_name: Option<String>,
    /// Base URL of the management node, for a separate conferencing node.
    #[arg(long, env = "CONVENE_MANAGER_URL")]
    pub manager_url: Option<String>,
    /// Shared secret between the management node and the conferencing nodes.
    #[arg(long, env = "CONVENE_NODE_SECRET", hide_env_values = true)]
    pub node_secret: Option<String>,
    /// SIP listen address, UDP and TCP (default 127.0.0.1:5060).
    #[arg(long, env = "CONVENE_SIP")]
    pub sip: Option<SocketAddr>,
    /// IP address for media (RTP) in SDP; default: the SIP address (127.0.0.1 if unspecified).
    #[arg(long, env = "CONVENE_MEDIA_ADDRESS")]
    pub media_address: Option<IpAddr>,
    /// Listen address of the node control API the management node forwards commands to
    /// (default 127.0.0.1:0, any free loopback port).
    #[arg(long, env = "CONVENE_CONTROL")]
    pub control: Option<SocketAddr>,
    /// Listen address of the Client REST API v2 (default 127.0.0.1:8081).
    #[arg(long, env = "CONVENE_CLIENT_API")]
    pub client_api: Option<SocketAddr>,
    /// TURN server for WebRTC media, e.g. turn:turn.example.com:3478?transport=udp.
    #[arg(long, env = "CONVENE_TURN_URL")]
    pub turn_url: Option<String>,
    /// TURN user name (long-term credentials).
    #[arg(long, env = "CONVENE_TURN_USERNAME")]
    pub turn_username: Option<String>,
    /// TURN password.
    #[arg(long, env = "CONVENE_TURN_PASSWORD", hide_env_values = true)]
    pub turn_password: Option<String>,
    /// Use TURN relay candidates only for WebRTC (node and browsers).
    #[arg(long, env = "CONVENE_WEBRTC_RELAY_ONLY")]
    pub webrtc_relay_only: Option<bool>,
    /// SIP over TLS listen address (e.g. 0.0.0.0:5061); needs --sip-tls-cert and --sip-tls-key.
    #[arg(long, env = "CONVENE_SIP_TLS")]
    pub sip_tls: Option<SocketAddr>,
    /// PEM file with the SIP TLS certificate chain (server certificate first).
    #[arg(long, env = "CONVENE_SIP_TLS_CERT")]
    pub sip_tls_cert: Option<PathBuf>,
    /// PEM file with the SIP TLS private key.
    #[arg(long, env = "CONVENE_SIP_TLS_KEY")]
    pub sip_tls_key: Option<PathBuf>,
}

impl Settings {
    pub fn resolve(file: FileSettings, o: Overrides) -> Settings {
        let data_dir = o.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let database_url = o
            .database_url
            .or(file.database_url)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| data_dir.join("convene.sqlite3").display().to_string());
        let http = o.http.or(file.http).unwrap_or_else(|| DEFAULT_HTTP.parse().expect("default address"));
        let manager_url = o.manager_url.or(file.manager_url).unwrap_or_else(|| format!("http://{http}"));
        let sip = o.sip.or(file.sip).unwrap_or_else(|| DEFAULT_SIP.parse().expect("default address"));
        let media_address = o.media_address.or(file.media_address).unwrap_or_else(|| {
            if sip.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { sip.ip() }
        });
        let control = o.control.or(file.control).unwrap_or_else(|| DEFAULT_CONTROL.parse().expect("default address"));
        let client_api = o.client_api.or(file.client_api).unwrap_or_else(|| DEFAULT_CLIENT_API.parse().expect("default address"));
        Settings {
            data_dir,
            database_url,
            http,
            node_name: o.node_name.or(file.node_name).unwrap_or_else(|| "node1".into()),
            manager_url,
            node_secret: o.node_secret.or(file.node_secret).filter(|s| !s.is_empty()),
            sip,
            media_address,
            control,
            client_api,
            turn: o.turn_url.or(file.turn_url).filter(|u| !u.is_empty()).map(|url| {
                (url, o.turn_username.or(file.turn_username).unwrap_or_default(), o.turn_password.or(file.turn_password).unwrap_or_default())
            }),
            webrtc_relay_only: o.webrtc_relay_only.or(file.webrtc_relay_only).unwrap_or(false),
            sip_tls: match (o.sip_tls.or(file.sip_tls), o.sip_tls_cert.or(file.sip_tls_cert), o.sip_tls_key.or(file.sip_tls_key)) {
                (Some(at), Some(cert), Some(key)) => Some((at, cert, key)),
                _ => None,
            },
        }
    }

    /// The node secret: configured, or kept in `<data_dir>/node_secret` (created on first use).
    pub fn node_secret(&self) -> Result<String, String> {
        if let Some(s) = &self.node_secret {
            return Ok(s.clone());
        }
        let path = self.data_dir.join("node_secret");
        if let Ok(s) = std::fs::read_to_string(&path) {
            return Ok(s.trim().to_string());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| format!("{}: {e}", self.data_dir.display()))?;
        let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        write_private(&path, &secret).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(secret)
    }

    /// The database URL with any password hidden, for logs.
    pub fn database_display(&self) -> String {
        match self.database_url.split_once('@') {
            Some((creds, rest)) if self.database_url.starts_with("postgres") => {
                let scheme_end = creds.find("://").map(|i| i + 3).unwrap_or(0);
                let user = creds[scheme_end..].split(':').next().unwrap_or("");
                format!("{}{user}:***@{rest}", &creds[..scheme_end])
            }
            _ => self.database_url.clone(),
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file: FileSettings = toml::from_str("data_dir = \"/srv/c\"\nhttp = \"127.0.0.1:9000\"\nnode_name = \"a\"").unwrap();
        let o = Overrides { node_name: Some("b".into()), ..Default::default() };
        let s = Settings::resolve(file, o);
        assert_eq!(s.data_dir, PathBuf::from("/srv/c"));
        assert_eq!(s.database_url, "/srv/c/convene.sqlite3");
        assert_eq!(s.http.port(), 9000);
        assert_eq!(s.node_name, "b");
        assert_eq!(s.manager_url, "http://127.0.0.1:9000");
        assert_eq!(s.sip.to_string(), "127.0.0.1:5060");
        assert_eq!(s.media_address.to_string(), "127.0.0.1");
        assert_eq!(s.control.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn sip_media_and_control_addresses() {
        let file: FileSettings = toml::from_str("sip = \"0.0.0.0:5070\"\ncontrol = \"127.0.0.1:7000\"").unwrap();
        let s = Settings::resolve(file, Overrides::default());
        assert_eq!(s.sip.port(), 5070);
        assert_eq!(s.media_address.to_string(), "127.0.0.1", "unspecified SIP address: loopback media");
        assert_eq!(s.control.port(), 7000);
        let o = Overrides { sip: Some("10.1.2.3:5060".parse().unwrap()), ..Default::default() };
        assert_eq!(Settings::resolve(FileSettings::default(), o).media_address.to_string(), "10.1.2.3");
        let o = Overrides { media_address: Some("10.9.9.9".parse().unwrap()), ..Default::default() };
        assert_eq!(Settings::resolve(FileSettings::default(), o).media_address.to_string(), "10.9.9.9");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<FileSettings>("data_dri = \"x\"").is_err());
    }

    #[test]
    fn tls_needs_all_three_and_turn_its_url() {
        let half = Overrides { sip_tls: Some("127.0.0.1:5061".parse().unwrap()), sip_tls_cert: Some("c.pem".into()), ..Default::default() };
        assert!(Settings::resolve(FileSettings::default(), half).sip_tls.is_none(), "no key: no TLS");
        let file = FileSettings { sip_tls_key: Some("k.pem".into()), turn_url: Some("turn:t:3478".into()), ..Default::default() };
        let o = Overrides { sip_tls: Some("127.0.0.1:5061".parse().unwrap()), sip_tls_cert: Some("c.pem".into()), turn_username: Some("u".into()), ..Default::default() };
        let s = Settings::resolve(file, o);
        assert_eq!(s.sip_tls.map(|(a, c, k)| (a.port(), c, k)), Some((5061, "c.pem".into(), "k.pem".into())));
        assert_eq!(s.turn, Some(("turn:t:3478".into(), "u".into(), String::new())));
        assert!(!s.webrtc_relay_only);
    }

    #[test]
    fn passwords_hidden_in_display() {
        let o = Overrides { database_url: Some("postgres://u:secret@127.0.0.1:5432/db".into()), ..Default::default() };
        let s = Settings::resolve(FileSettings::default(), o);
        assert_eq!(s.database_display(), "postgres://u:***@127.0.0.1:5432/db");
    }

    #[test]
    fn node_secret_is_created_once() {
        let dir = std::env::temp_dir().join(format!("convene-secret-{}", std::process::id()));
        let o = Overrides { data_dir: Some(dir.clone()), ..Default::default() };
        let s = Settings::resolve(FileSettings::default(), o);
        let a = s.node_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(s.node_secret().unwrap(), a);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
