//! The GraphQL gateway of the vision platform, and the wiring that runs the whole platform in
//! one process.
//!
//! - [`graphql`]: schema, resolvers, dataloaders, limits;
//! - [`ingest`]: accepting uploads (check, store, record, announce), all or nothing;
//! - [`events`]: the process's one pipeline-event consumer, fanned out to subscriptions;
//! - [`http`]: the axum router (`/graphql`, `/health`, `/ready`, `/metrics`);
//! - [`platform`]: starting and stopping a process (`serve`, `api`, workers);
//! - [`cli`]: the `vision` command line.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod errors;
pub mod events;
pub mod graphql;
pub mod health;
pub mod http;
pub mod ingest;
pub mod platform;
pub mod state;

pub use config::Config;
pub use platform::Platform;
pub use state::AppState;
