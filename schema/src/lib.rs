//! Convene's configuration model, shared by the Management Node and the Conferencing Nodes:
//! resource descriptors with Pexip-compatible names ([`resources`]), their validation
//! ([`validate`]), and storage through diesel on SQLite or PostgreSQL ([`store`]).

pub mod descriptor;
pub mod ldap_filter;
pub mod resources;
pub mod store;
pub mod validate;

pub use store::{Db, StoreError};
