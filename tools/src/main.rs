//! `convene`: runs the all-in-one node, a management node or a conferencing node, and administers
//! an installation.

mod bench_media;
mod ldap_cmd;
mod settings;
mod setup;
mod testclient;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use convene_admin::AppState;
use convene_engine::media::NoMediaFactory;
use convene_engine::media::gst::GstMediaFactory;
use convene_engine::{NodeConfig, NodeSupervisor, ServiceDirectory};
use convene_schema::Db;
use settings::{FileSettings, Overrides, Settings};

#[derive(Parser)]
#[command(name = "convene", version, about = "Convene: an open-source software MCU and video-conferencing platform")]
struct Cli {
    /// A TOML settings file (keys: data_dir, database_url, http, node_name, manager_url, node_secret,
    /// sip, media_address, control, client_api, turn_url, turn_username, turn_password,
    /// webrtc_relay_only, sip_tls, sip_tls_cert, sip_tls_key).
    #[arg(long, short, global = true, env = "CONVENE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// All in one: a management node and one conferencing node in one process.
    Up(#[command(flatten)] Overrides),
    /// Only the management node (dashboard, Management API).
    Manager(#[command(flatten)] Overrides),
    /// Only a conferencing node, reporting to --manager-url.
    Node(#[command(flatten)] Overrides),
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The database.
    #[command(subcommand)]
    Db(DbCommand),
    /// LDAP sync: provision VMRs from a directory.
    #[command(subcommand)]
    Ldap(ldap_cmd::LdapCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench_media::BenchCommand),
    /// A SIP test endpoint: sends a coloured picture, checks the composite it gets back.
    Testclient(testclient::TestClientArgs),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Sets (or resets) an administrator's password.
    SetPassword {
        #[arg(long, default_value = setup::ADMIN_USER)]
        user: String,
        /// Read the password from standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        overrides: Overrides,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Applies pending migrations (they also run whenever a node starts).
    Migrate(#[command(flatten)] Overrides),
}

fn main() -> ExitCode {
    // webrtc-rs reports routine set-up races (an SRTP context not ready yet for the first
    // packets) as warnings: only its errors show unless the filter names its crates.
    let filter = std::env::var("CONVENE_LOG").unwrap_or_else(|_| "info".into());
    let filter = if filter.contains("rtc") { filter } else { format!("{filter},rtc=error,rtc_ice=error,rtc_dtls=error,webrtc=error") };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let file = match FileSettings::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        Command::Up(o) => run(Settings::resolve(file, o), true, true),
        Command::Manager(o) => run(Settings::resolve(file, o), true, false),
        Command::Node(o) => run(Settings::resolve(file, o), false, true),
        Command::Admin(AdminCommand::SetPassword { user, password_stdin, overrides }) => {
            set_password(&Settings::resolve(file, overrides), &user, password_stdin)
        }
        Command::Ldap(c) => ldap_cmd::run(c, file),
        Command::Bench(c) => bench_media::run(c),
        Command::Testclient(a) => testclient::run(a).and_then(|ok| if ok { Ok(()) } else { Err("the expectations did not hold".into()) }),
        Command::Db(DbCommand::Migrate(o)) => {
            let s = Settings::resolve(file, o);
            open_db(&s).map(|_| println!("Database at {} is up to date.", s.database_display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("convene: {msg}");
    ExitCode::FAILURE
}

fn open_db(s: &Settings) -> Result<Db, String> {
    Db::open(&s.database_url).map_err(|e| format!("{} ({})", e, s.database_display()))
}

fn set_password(s: &Settings, user: &str, from_stdin: bool) -> Result<(), String> {
    let db = open_db(s)?;
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        setup::prompt_new_password()?
    };
    setup::set_password(&db, user, &password)?;
    println!("Password set for \"{user}\".");
    Ok(())
}

/// Runs the management node and/or a conferencing node until interrupted.
fn run(s: Settings, manager: bool, node: bool) -> Result<(), String> {
    let secret = s.node_secret()?;
    let system = actix_rt::System::new();
    system.block_on(async move {
        let mut servers = Vec::new();
        let mut bound = None;
        let mut shared_db = None;
        if manager {
            let db = open_db(&s)?;
            shared_db = Some(db.clone());
            if node {
                for made in setup::seed_all_in_one(&db, &s.node_name)? {
                    tracing::info!("created {made}");
                }
            }
            let login = setup::ensure_admin(&db)?;
            let listener = TcpListener::bind(s.http).map_err(|e| format!("cannot listen on {}: {e}", s.http))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            bound = Some(addr);
            convene_schema::store::secrets::install_key_file(&s.data_dir.join("secret_key"))?;
            let state = AppState::new(db, secret.clone());
            servers.push(convene_admin::serve(listener, state, 2).map_err(|e| e.to_string())?);
            println!("Convene management node on http://{addr}/");
            println!("  dashboard:       http://{addr}/admin/");
            println!("  Management API:  http://{addr}/api/admin/configuration/v1/  (HTTP Basic)");
            println!("  OpenAPI:         http://{addr}/api/admin/openapi.json");
            println!("  database:        {}", s.database_display());
            println!("{login}");
        }
        if node {
            // Without a working GStreamer the node still answers calls (signalling only) and says so.
            let media: std::sync::Arc<dyn convene_engine::media::MediaFactory> = match convene_pipelines::check_media() {
                Ok(v) => {
                    tracing::info!("media: {v}");
                    std::sync::Arc::new(GstMediaFactory::new(s.media_address, 40000, 49999))
                }
                Err(e) => {
                    tracing::error!("media is not ready, calls will have no media: {e}");
                    std::sync::Arc::new(NoMediaFactory::new(s.media_address, 40000, 49999))
                }
            };
            let manager_url = match bound {
                Some(addr) => format!("http://{}", loopback_if_unspecified(addr)),
                None => s.manager_url.clone(),
            };
            // In `up` the node reads the same database; a separate node asks the management node.
            let directory = match shared_db {
                Some(db) => ServiceDirectory::Db(db),
                None => ServiceDirectory::manager(&manager_url, &secret),
            };
            let mut sip = convene_engine::transport::bind(s.sip).await.map_err(|e| format!("cannot listen for SIP on {}: {e}", s.sip))?;
            if let Some((listen, cert, key)) = &s.sip_tls {
                let tls = convene_engine::transport::SipTls { listen: *listen, cert: cert.clone(), key: key.clone() };
                sip = sip.with_tls(&tls).await.map_err(|e| format!("cannot listen for SIP over TLS on {listen}: {e}"))?;
            }
            let sip_tls_local = sip.tls_local;
            let advertise = loopback_if_unspecified(sip.local);
            let control = TcpListener::bind(s.control).map_err(|e| format!("cannot listen on {}: {e}", s.control))?;
            let control_addr = loopback_if_unspecified(control.local_addr().map_err(|e| e.to_string())?);
            let client_listener =
                TcpListener::bind(s.client_api).map_err(|e| format!("cannot listen for the Client API on {}: {e}", s.client_api))?;
            let client_addr = loopback_if_unspecified(client_listener.local_addr().map_err(|e| e.to_string())?);
            let hub = actix::Actor::start(convene_engine::client_api::events::EventHub::default());
            let supervisor = NodeSupervisor::new(NodeConfig {
                name: s.node_name.clone(),
                manager_url,
                node_secret: secret.clone(),
                control_url: format!("http://{control_addr}"),
                sip_address: advertise.to_string(),
            })
            .with_directory(directory)
            .with_media(media)
            .with_client_events(hub.clone().recipient(), hub.clone().recipient())
            .start_with_sip(sip, advertise);
            let webrtc = convene_engine::client_api::calls::WebRtcService {
                runtime: convene_engine::webrtc::WebRtcRuntime::new(2).map_err(|e| format!("WebRTC runtime: {e}"))?,
                config: convene_engine::webrtc::WebRtcConfig {
                    ice_ip: s.media_address,
                    ice_servers: s
                        .turn
                        .iter()
                        .map(|(url, username, credential)| convene_engine::webrtc::IceServer {
                            urls: vec![url.clone()],
                            username: username.clone(),
                            credential: credential.clone(),
                        })
                        .collect(),
                    relay_only: s.webrtc_relay_only,
                    ..Default::default()
                },
            };
            let client_server = convene_engine::client_api::http::serve(client_listener, supervisor.clone(), hub, Some(webrtc))
                .map_err(|e| e.to_string())?;
            actix_rt::spawn(client_server);
            let control_server = convene_engine::control::serve(control, supervisor, secret.clone()).map_err(|e| e.to_string())?;
            actix_rt::spawn(control_server);
            println!("  SIP:             {advertise} (UDP and TCP); media on {}", s.media_address);
            if let Some(at) = sip_tls_local {
                println!("  SIP over TLS:    {}", loopback_if_unspecified(at));
            }
            println!("  node control:    http://{control_addr}/api/internal/v1/command/");
            println!("  Client API:      http://{client_addr}/api/client/v2/conferences/<alias>/");
            println!("Conferencing node \"{}\" reporting to the management node.", s.node_name);
        }
        if servers.is_empty() {
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        } else {
            for server in servers {
                server.await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

/// Where the in-process node reaches the management node: the bound address, over loopback when
/// the server listens on every address.
fn loopback_if_unspecified(mut addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::IpAddr::from([127, 0, 0, 1]));
    }
    addr
}
