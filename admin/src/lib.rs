//! Convene's Management Node: the Pexip-compatible Management REST API ([`api`]), the API the
//! conferencing nodes report to ([`internal`]), and the admin dashboard ([`dashboard`]).

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod internal;
pub mod ldap;
pub mod live;
mod state;

use std::net::TcpListener;

use actix_web::{App, HttpServer, dev::Server, middleware, web};

pub use state::AppState;

/// Registers every route of the management node.
pub fn configure(cfg: &mut web::ServiceConfig) {
    api::routes(cfg);
    internal::routes(cfg);
    dashboard::routes(cfg);
}

/// Request bodies larger than this are refused (a bulk PATCH of 10,000 VMRs fits comfortably).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Starts the management node's HTTP server on an already bound listener.
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let state_for_scheduler = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                error::ApiError::BadRequest(format!("Bad query string: {e}.")).into()
            }))
            .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .configure(configure)
    })
    .workers(workers)
    .listen(listener)?
    .run();
    ldap::scheduler::start(state_for_scheduler.get_ref().clone());
    Ok(server)
}
