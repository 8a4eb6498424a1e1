//! The GraphQL gateway of the vision platform, and the wiring that runs the whole platform in
//! one process.
//!
//! - [`graphql`]: schema, resolvers, dataloaders, limits;
//! - [`ingest`]: accepting uploads (check, store, record, announce), all or nothing;
//! - [`stats`]: dashboard statistics shaped from the database's counts;
//! - [`replay`]: server-side CIFAR-10 replays;
//! - [`events`]: the process's one reader of the pipeline feed, fanned out to subscriptions
//!   (which catch up from the database when they fall behind, and resume from cursors);
//! - [`jobs`]: maintenance jobs (retention), on a schedule or `vision job ...`;
//! - [`http`]: the axum router (`/graphql`, `/health`, `/ready`, `/metrics`);
//! - [`platform`]: starting and stopping a process (`serve`, `api`, workers);
//! - [`cli`]: the `vision` command line;
//! - [`client`]: a GraphQL client of this API, for the command line's client commands.

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod errors;
pub mod events;
pub mod graphql;
pub mod health;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod platform;
pub mod replay;
pub mod rollout;
pub mod state;
pub mod stats;

pub use config::Config;
pub use platform::Platform;
pub use state::AppState;
