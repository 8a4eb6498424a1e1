//! `/graphql`: one path for everything GraphQL, as clients and GraphiQL expect, following the
//! GraphQL-over-HTTP specification (checked by `graphql-http`'s audits in
//! `api/tests/clients`):
//! - POST with `application/json` (one request or a batch) or `multipart/form-data` (uploads,
//!   the GraphQL multipart request spec); any other body type is refused with 415;
//! - GET with `?query=` executes queries, never mutations (405);
//! - a WebSocket upgrade (`graphql-transport-ws` or the legacy `graphql-ws`) starts a
//!   subscription session;
//! - a browser (HTML preferred in `Accept`) gets GraphiQL, built from npm with the dashboard.
//!
//! A request that is not well-formed (body, parameters) gets 400. Otherwise responses are
//! `application/graphql-response+json` when the client accepts it (a document refused before
//! execution, by syntax or validation, then gets 400 too) or `application/json` (200, errors in
//! the body).

mod media;
mod multipart;
#[cfg(test)]
mod multipart_props;
mod params;
mod part_count;
mod ws;

pub(crate) use ws::SocketCounts;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use async_graphql::ParseRequestError;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::GraphQLProtocol;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use futures::TryStreamExt;
use serde_json::{Value, json};

use self::media::{ResponseMedia, Wanted, negotiate};
use self::params::ParamsError;
use super::HttpState;
use crate::auth::Caller;
use crate::auth::audit::RequestMeta;
use crate::errors::{ApiError, ErrorCode};

/// Largest JSON body (one operation or a batch); uploads are multipart and bounded apart.
const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Most operations in one batch (each counts as a request for every other limit).
const MAX_BATCH_OPERATIONS: usize = 10;
/// Longest a query or mutation may run (subscriptions are long-lived by design).
const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Queries and mutations by POST.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let meta = RequestMeta::new(Some(peer.ip().to_string()), &headers);
    let media = match negotiate(&headers) {
        Wanted::Graphql(media) => media,
        Wanted::Html | Wanted::Unacceptable => return not_acceptable(),
    };
    // Credentials first: a caller with a bad key learns nothing about the request.
    let caller = match authenticate(&state, &headers, &meta).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return refusal(
            ErrorCode::UnsupportedMediaType,
            "a POST to /graphql needs a Content-Type: application/json or multipart/form-data",
        );
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let batch = match essence.as_str() {
        "application/json" => {
            let bytes = match axum::body::to_bytes(body, MAX_JSON_BYTES).await {
                Ok(bytes) => bytes,
                Err(error) => return unreadable_body(error),
            };
            params::from_json_body(&bytes)
        }
        "multipart/form-data" => {
            if !preflighted(&headers) {
                return refusal(
                    ErrorCode::CsrfPrevented,
                    "a multipart request needs the header `apollo-require-preflight: true` (or \
                     `x-apollo-operation-name`), which a browser sends only after a CORS \
                     preflight: this blocks cross-site request forgery",
                );
            }
            let Some(boundary) = part_count::boundary(content_type) else {
                return request_error(
                    media,
                    ParamsError("a multipart request names its boundary".into()),
                );
            };
            // `operations`, `map` and the files: far more parts (twice the files allowed; the
            // ingest refuses a few too many with the batch's own error) are cut off as they
            // stream in.
            let tripped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let reader = part_count::limit_parts(
                body.into_data_stream().map_err(std::io::Error::other),
                &boundary,
                2 * state.max_files + 2,
                tripped.clone(),
            );
            let model_file = Some(state.max_model_bytes);
            match multipart::read_within(reader, &boundary, state.multipart, model_file).await {
                Ok(BatchRequest::Batch(_)) => {
                    return refusal(
                        ErrorCode::TooManyOperations,
                        "a multipart request carries one operation, not a batch",
                    );
                }
                Ok(batch) => Ok(batch),
                Err(ParseRequestError::PayloadTooLarge) => {
                    return refusal(
                        ErrorCode::FileTooLarge,
                        "a file of the upload is far over the size limit: cut off while it \
                         streamed in, nothing stored",
                    );
                }
                Err(_) if tripped.load(std::sync::atomic::Ordering::Relaxed) => {
                    return refusal(
                        ErrorCode::BatchTooLarge,
                        format!(
                            "an upload carries at most {} files, this one far more: cut off while \
                             it streamed in, nothing stored",
                            state.max_files
                        ),
                    );
                }
                Err(error) => Err(ParamsError(format!("invalid multipart request: {error}"))),
            }
        }
        other => {
            return refusal(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "a POST to /graphql is application/json or multipart/form-data, not {other:?}"
                ),
            );
        }
    };
    let batch = match batch {
        Ok(BatchRequest::Batch(requests)) if requests.len() > MAX_BATCH_OPERATIONS => {
            return refusal(
                ErrorCode::TooManyOperations,
                format!(
                    "a batch holds at most {MAX_BATCH_OPERATIONS} operations, not {}",
                    requests.len()
                ),
            );
        }
        Ok(batch) => batch,
        Err(error) => return request_error(media, error),
    };
    match tokio::time::timeout(
        OPERATION_TIMEOUT,
        state.schema.execute_batch(batch.data(caller).data(meta)),
    )
    .await
    {
        Ok(response) => respond(media, response),
        Err(_) => timed_out(),
    }
}

/// Queries by GET, subscriptions by WebSocket upgrade, GraphiQL for browsers.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
) -> Response {
    match (upgrade, protocol.map(|_| websocket_protocol(&headers))) {
        (Ok(upgrade), Ok(Some(protocol))) => {
            let session = ws::Session {
                auth: state.app.auth.clone(),
                audit: state.app.audit.clone(),
                meta: RequestMeta::new(Some(peer.ip().to_string()), &headers),
                sockets: state.sockets.clone(),
            };
            return upgrade
                .protocols(ALL_WEBSOCKET_PROTOCOLS)
                .on_upgrade(move |socket| ws::serve(socket, state.schema, protocol, session));
        }
        (Ok(_), _) => {
            return ApiError::new(
                ErrorCode::InvalidArgument,
                "unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws",
            )
            .into_response();
        }
        (Err(_), _) => {}
    }
    let media = match negotiate(&headers) {
        Wanted::Graphql(media) => media,
        Wanted::Html if state.graphiql => return graphiql(state.graphiql_page.as_deref()).await,
        Wanted::Html => {
            return refusal(
                ErrorCode::NotFound,
                "GraphiQL is turned off on this server (VISION_GRAPHIQL=false)",
            );
        }
        Wanted::Unacceptable => return not_acceptable(),
    };
    let meta = RequestMeta::new(Some(peer.ip().to_string()), &headers);
    let caller = match authenticate(&state, &headers, &meta).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let pairs = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => pairs,
        Err(error) => {
            return request_error(media, ParamsError(format!("invalid query string: {error}")));
        }
    };
    let request = match params::from_query_string(pairs) {
        Ok(request) => request,
        Err(error) => return request_error(media, error),
    };
    if !params::selects_query(&request) {
        let mut response = refusal(
            ErrorCode::MethodNotAllowed,
            "GET executes queries only: send mutations and subscriptions by POST or WebSocket",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match tokio::time::timeout(
        OPERATION_TIMEOUT,
        state.schema.execute(request.data(caller).data(meta)),
    )
    .await
    {
        Ok(response) => respond(media, BatchResponse::Single(response)),
        Err(_) => timed_out(),
    }
}

/// Whether a request carries a header no cross-site form can send without a CORS preflight
/// (Apollo's CSRF prevention; JSON bodies are preflighted by their content type already, and
/// GET runs queries only).
fn preflighted(headers: &HeaderMap) -> bool {
    ["apollo-require-preflight", "x-apollo-operation-name"]
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
}

/// The subprotocol a WebSocket upgrade asks for (the first one served of those listed).
fn websocket_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    use std::str::FromStr;
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

/// The caller of a request; refused credentials are answered (401) and recorded.
async fn authenticate(
    state: &HttpState,
    headers: &HeaderMap,
    meta: &RequestMeta,
) -> Result<Caller, Response> {
    state
        .app
        .auth
        .from_headers(headers)
        .await
        .map_err(|refused| {
            let audit = state.app.audit.clone();
            let (meta, code, message) = (meta.clone(), refused.code, refused.message.clone());
            // Recorded off the request's path: a flood of bad keys does not wait on the log.
            tokio::spawn(async move {
                audit
                    .record(
                        Some(&Caller::unauthenticated()),
                        Some(&meta),
                        "authenticate",
                        code.as_str(),
                        Some(message),
                    )
                    .await;
            });
            refusal(refused.code, refused.message)
        })
}

/// An executed request (or batch) in the negotiated media type.
fn respond(media: ResponseMedia, batch: BatchResponse) -> Response {
    let (status, body) = match &batch {
        BatchResponse::Single(response) => {
            let refused = is_request_error(response);
            let status = match (media, refused, refusal_code(response)) {
                // Not signed in, a role that may not, too many operations: 401 / 403 / 429.
                (_, true, Some(code)) => code.http_status(),
                (ResponseMedia::GraphqlResponse, true, None) => StatusCode::BAD_REQUEST,
                // An upload refused because the pipeline is full: 503, so that HTTP clients and
                // proxies back off (with `Retry-After`) as they would for any overloaded server.
                _ if overloaded(response) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            (status, response_json(response))
        }
        BatchResponse::Batch(responses) => (
            StatusCode::OK,
            Value::Array(responses.iter().map(response_json).collect()),
        ),
    };
    // No resolver sets HTTP headers (`Context::insert_http_header`); none are copied.
    let retry_after = match &batch {
        BatchResponse::Single(response)
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) =>
        {
            response
                .errors
                .first()
                .and_then(|e| e.extensions.as_ref()?.get("retryAfter").cloned())
        }
        _ => None,
    };
    let mut response = (status, body.to_string()).into_response();
    if let Some(async_graphql::Value::Number(seconds)) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    set_media(&mut response, media);
    response
}

/// A request that is not a well-formed GraphQL-over-HTTP request (body, parameters): 400 in
/// either media type (the spec's current advice), no `data`.
fn request_error(media: ResponseMedia, error: ParamsError) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        errors_body(ErrorCode::BadRequest, &error.0),
    )
        .into_response();
    set_media(&mut response, media);
    response
}

/// A refusal at the HTTP level (method, media types, size), with the code's status.
fn refusal(code: ErrorCode, message: impl AsRef<str>) -> Response {
    let mut response = (code.http_status(), errors_body(code, message.as_ref())).into_response();
    set_media(&mut response, ResponseMedia::Json);
    response
}

fn timed_out() -> Response {
    refusal(
        ErrorCode::Timeout,
        format!(
            "the operation ran longer than {} s and was stopped",
            OPERATION_TIMEOUT.as_secs()
        ),
    )
}

fn not_acceptable() -> Response {
    refusal(
        ErrorCode::NotAcceptable,
        "/graphql answers application/graphql-response+json or application/json (or text/html, \
         GraphiQL, to a browser GET)",
    )
}

/// A body that could not be read: over the router's limit, or cut off.
fn unreadable_body(error: axum::Error) -> Response {
    // The limit's error type is private to the body stack; its message is stable.
    if error.to_string().contains("length limit exceeded") {
        refusal(ErrorCode::RequestTooLarge, "the request body is too large")
    } else {
        refusal(
            ErrorCode::BadRequest,
            format!("the request body could not be read: {error}"),
        )
    }
}

/// Refused before execution (syntax, validation, limits, no such operation): no `data`, and
/// every error is about the document rather than a field (no `path`).
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The policy's or the rate limit's refusal of a whole operation, if that is what the
/// response is.
fn refusal_code(response: &async_graphql::Response) -> Option<ErrorCode> {
    let code = response
        .errors
        .first()?
        .extensions
        .as_ref()?
        .get("code")?
        .clone();
    match code {
        async_graphql::Value::String(code) if code == ErrorCode::Unauthenticated.as_str() => {
            Some(ErrorCode::Unauthenticated)
        }
        async_graphql::Value::String(code) if code == ErrorCode::Forbidden.as_str() => {
            Some(ErrorCode::Forbidden)
        }
        async_graphql::Value::String(code) if code == ErrorCode::RateLimited.as_str() => {
            Some(ErrorCode::RateLimited)
        }
        _ => None,
    }
}

/// Whether the operation produced nothing because the pipeline's backlog is full.
fn overloaded(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && response.errors.first().is_some_and(|error| {
            error.extensions.as_ref().and_then(|e| e.get("code"))
                == Some(&async_graphql::Value::String(
                    ErrorCode::Overloaded.as_str().to_owned(),
                ))
        })
}

/// One response as JSON; a request error has no `data` entry at all.
fn response_json(response: &async_graphql::Response) -> Value {
    let mut value = serde_json::to_value(response).unwrap_or_else(|error| {
        tracing::error!(%error, "a GraphQL response did not serialize");
        errors_value(
            ErrorCode::Internal,
            "internal error: the response did not serialize",
        )
    });
    let refused = is_request_error(response);
    if let Value::Object(map) = &mut value {
        if refused {
            map.remove("data");
        }
        // Errors async-graphql raises before any extension sees them (an unknown operation
        // name) get a code too.
        if let Some(Value::Array(errors)) = map.get_mut("errors") {
            for error in errors.iter_mut().filter_map(Value::as_object_mut) {
                let fallback = if error.contains_key("path") {
                    ErrorCode::InvalidArgument
                } else {
                    ErrorCode::BadRequest
                };
                let extensions = error.entry("extensions").or_insert_with(|| json!({}));
                if let Value::Object(extensions) = extensions {
                    extensions
                        .entry("code")
                        .or_insert_with(|| Value::String(fallback.as_str().into()));
                }
            }
        }
    }
    value
}

fn errors_value(code: ErrorCode, message: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
}

fn errors_body(code: ErrorCode, message: &str) -> String {
    errors_value(code, message).to_string()
}

fn set_media(response: &mut Response, media: ResponseMedia) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    headers.insert(VARY, HeaderValue::from_static("Accept"));
}

/// GraphiQL, from the dashboard's build (`graphiql.html`, assets bundled: no CDN).
async fn graphiql(page: Option<&Path>) -> Response {
    if let Some(page) = page {
        match tokio::fs::read(page).await {
            Ok(html) => {
                return (
                    [(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    )],
                    html,
                )
                    .into_response();
            }
            Err(error) => {
                tracing::warn!(%error, page = %page.display(), "GraphiQL page unreadable")
            }
        }
    }
    Html(
        "<!doctype html><title>vision GraphiQL</title><h1>GraphiQL</h1>\
         <p>GraphiQL is built with the dashboard: run <code>npm ci &amp;&amp; npm run build</code> \
         in <code>frontend/</code> (or start with <code>scripts/serve.sh</code>), or set \
         <code>VISION_FRONTEND_DIR</code>.</p>\
         <p>The endpoint itself works: POST queries and mutations to <code>/graphql</code>, GET \
         <code>/graphql?query=...</code> for queries, WebSocket <code>/graphql</code> \
         (graphql-transport-ws) for subscriptions.</p>",
    )
    .into_response()
}
