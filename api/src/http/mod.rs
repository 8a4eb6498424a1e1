//! The HTTP surface: `/graphql` (queries and uploads by POST, queries by GET, subscriptions by
//! WebSocket upgrade, GraphiQL for browsers, all on one path), the operators' `/health`, `/ready`, `/metrics`, the
//! stored image files (`/images/{id}/file`) and the dashboard (`/`).

mod cors;
mod dashboard;
mod files;
mod graphql;
mod metrics;
mod operator;
mod probes;

use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use operator::{WorkerProbes, worker_router};

use crate::graphql::AppSchema;
use crate::state::AppState;

/// What the HTTP layer needs besides the state.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS (`*` for any); empty means localhost pages only.
    pub cors_origins: Vec<String>,
    /// The built dashboard, served at `/`.
    pub frontend_dir: Option<PathBuf>,
}

#[derive(Clone)]
pub(crate) struct HttpState {
    pub app: AppState,
    pub schema: AppSchema,
    /// GraphiQL's page in the dashboard's build, when there is one.
    pub graphiql_page: Option<PathBuf>,
}

pub fn router(app: AppState, schema: AppSchema, options: &HttpOptions) -> Router {
    let graphiql_page = options
        .frontend_dir
        .as_ref()
        .map(|dir| dir.join("graphiql.html"))
        .filter(|page| page.is_file());
    let state = HttpState {
        app,
        schema,
        graphiql_page,
    };
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .route("/metrics", get(metrics::render))
        .route("/images/{id}/file", get(files::image_file))
        .with_state(state)
        .merge(dashboard::routes(options.frontend_dir.as_deref()))
        .layer(RequestBodyLimitLayer::new(options.max_body_bytes))
        .layer(cors::layer(&options.cors_origins))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
}
