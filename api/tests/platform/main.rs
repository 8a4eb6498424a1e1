//! Integration tests: the whole platform in-process on a random port, driven over HTTP
//! (GraphQL multipart uploads, queries) and WebSocket (subscriptions), like a client would.

mod common;
mod images;
mod kafka;
mod ws;

mod access;
mod audit;
mod backpressure;
mod bundles;
mod cli;
mod dashboard;
mod distributed;
mod experiments;
mod files;
mod hostile;
mod lossless;
mod operations;
mod outbox;
mod over_http;
mod promotion;
mod quality;
mod queries;
mod recovery;
mod refusals;
mod registry;
mod retention;
mod shared_limits;
mod subscriptions;
mod uploads;
