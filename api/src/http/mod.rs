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
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

pub use operator::{WorkerProbes, worker_router};
pub use serve::{HEADER_TIMEOUT, serve};

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
    /// Largest file of a multipart upload, in bytes (refused while streaming).
    pub max_file_bytes: usize,
    /// Most files of a multipart upload.
    pub max_files: usize,
    /// Largest model file of a registration (`registerModelVersion` alone in its request).
    pub max_model_bytes: usize,
    /// Serve GraphiQL to browsers.
    pub graphiql: bool,
}

/// Longest a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(crate) struct HttpState {
    pub app: AppState,
    pub schema: AppSchema,
    /// GraphiQL's page in the dashboard's build, when there is one and it is served.
    pub graphiql_page: Option<PathBuf>,
    /// Whether GraphiQL is served at all.
    pub graphiql: bool,
    /// Open WebSocket sessions per caller.
    pub sockets: graphql::SocketCounts,
    /// Most files of one multipart upload.
    pub max_files: usize,
    /// Bounds of a multipart upload, enforced while it streams in.
    pub multipart: async_graphql::http::MultipartOptions,
    /// A registration's model file may be this large instead.
    pub max_model_bytes: usize,
}

pub fn router(app: AppState, schema: AppSchema, options: &HttpOptions) -> Router {
    let graphiql_page = options
        .frontend_dir
        .as_ref()
        .map(|dir| dir.join("graphiql.html"))
        .filter(|page| page.is_file());
    let multipart = async_graphql::http::MultipartOptions::default()
        .max_file_size(options.max_file_bytes)
        .max_num_files(options.max_files);
    let sockets = graphql::SocketCounts::new(app.limiter.shared());
    let state = HttpState {
        app,
        schema,
        graphiql_page,
        graphiql: options.graphiql,
        sockets,
        max_files: options.max_files,
        multipart,
        max_model_bytes: options.max_model_bytes,
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
        // Declared lengths over the limit get a coded answer before the layer above sees them.
        .layer(axum::middleware::from_fn_with_state(
            options.max_body_bytes,
            refuse_declared_oversize,
        ))
        // A body that trickles in slower than this is cut off (slowloris).
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(cors::layer(&options.cors_origins))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
}

/// A 5xx answer is logged as an error, except 503: the platform answers it on purpose (an
/// upload refused as OVERLOADED, a service it needs down), each already counted in metrics and
/// answered with a code; at saturation hundreds a second, each logged at ERROR cost CPU the
/// pipeline lacked and buried the errors worth reading.
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    match class {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(latency_ms = latency.as_millis() as u64, "answered 503")
        }
        class => tracing::error!(classification = %class, ?latency, "response failed"),
    }
}

/// Refuses a request whose `Content-Length` is over `max` with `REQUEST_TOO_LARGE` (413),
/// before any of its body is read. Bodies without a declared length are cut off by
/// `RequestBodyLimitLayer` as they stream in.
async fn refuse_declared_oversize(
    axum::extract::State(max): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > max as u64 => crate::errors::ApiError::new(
            crate::errors::ErrorCode::RequestTooLarge,
            format!("the request body is {length} bytes; at most {max} are accepted"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}
