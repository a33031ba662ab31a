//! Shared helpers for Convene's end-to-end and storage tests.

pub mod baresip;
pub mod nginx_rtmp;
pub mod pg;
pub mod storage_suite;
pub mod server;
pub mod slapd;
pub mod testclient;
