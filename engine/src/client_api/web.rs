//! The browser client, served by the node's Client API listener at `/` (no install, no build
//! step): plain HTML, CSS and JavaScript modules compiled into the binary with `include_str!`.
//! The client talks to the Client REST API v2 on the same origin (`api/client/v2/…`, relative,
//! so it also works behind a reverse proxy that adds a path prefix).
//!
//! Files: `index.html` (the page), `client.css`, `app.js` (the join flow and the call screen),
//! `api.js` (REST calls and the token), `events.js` (the `events` stream), `media.js` (camera,
//! microphone, screen and the peer connection), `ui.js` (DOM helpers, roster and chat).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// Only our own files; media comes from the camera, peer connections are not governed by CSP.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
                       base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Path under `/`, content type, body.
pub const FILES: &[(&str, &str, &str)] = &[
    ("", HTML, include_str!("web/index.html")),
    ("client.css", CSS, include_str!("web/client.css")),
    ("app.js", JS, include_str!("web/app.js")),
    ("api.js", JS, include_str!("web/api.js")),
    ("events.js", JS, include_str!("web/events.js")),
    ("media.js", JS, include_str!("web/media.js")),
    ("ui.js", JS, include_str!("web/ui.js")),
];

/// Adds the browser client's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for &(path, content_type, body) in FILES {
        cfg.route(
            &format!("/{path}"),
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(content_type)
                    .insert_header(("Content-Security-Policy", CSP))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .insert_header(("Referrer-Policy", "no-referrer"))
                    // Camera and microphone for this origin only; the files change with the binary.
                    .insert_header(("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"))
                    .insert_header((header::CACHE_CONTROL, "no-cache"))
                    .body(body)
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served: Vec<&str> = FILES.iter().map(|f| f.0).collect();
        for (_, _, body) in FILES {
            // `import … from './x.js'` and `<script src="./x.js">` / `<link href="./x.css">`.
            for part in body.split(['\'', '"']).filter(|p| p.starts_with("./")) {
                let name = &part[2..];
                if name.ends_with(".js") || name.ends_with(".css") {
                    assert!(served.contains(&name), "{name} is referenced but not served");
                }
            }
        }
    }
}
