//! Real services for the tests, started per test and stopped when dropped: `moto_server` as the
//! S3 server, a `tansu` Kafka broker, and
//! fresh databases on the local PostgreSQL. A service that cannot be found or started fails the test with the fix in
//! the message; nothing is skipped.
//!
//! And tiny model bundles written from Rust ([`bundle`]): other classes, other heads, two versions
//! of one head, with answers the tests know.

pub mod bundle;
pub mod http;
pub mod moto;
pub mod postgres;
pub mod process;
pub mod tansu;

pub use http::{free_port, http};
pub use moto::Moto;
pub use tansu::Tansu;
