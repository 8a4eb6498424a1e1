//! `/graphql`: one path for everything GraphQL, as clients and GraphiQL expect.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::HttpState;
use crate::errors::{ApiError, ErrorCode};

/// Queries and mutations; `multipart/form-data` bodies carry uploads (GraphQL multipart request
/// spec), JSON bodies may hold one operation or a batch.
pub async fn post_graphql(
    State(state): State<HttpState>,
    request: GraphQLBatchRequest,
) -> GraphQLResponse {
    state
        .schema
        .execute_batch(request.into_inner())
        .await
        .into()
}

/// A WebSocket upgrade (`graphql-transport-ws` or the legacy `graphql-ws`) starts a
/// subscription session; any other GET gets the GraphiQL page.
pub async fn get_graphql(
    State(state): State<HttpState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
) -> Response {
    match (upgrade, protocol) {
        (Ok(upgrade), Ok(protocol)) => {
            upgrade
                .protocols(ALL_WEBSOCKET_PROTOCOLS)
                .on_upgrade(move |socket| {
                    GraphQLWebSocket::new(socket, state.schema, protocol).serve()
                })
        }
        (Ok(_), Err(_)) => ApiError::new(
            ErrorCode::InvalidArgument,
            "unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws",
        )
        .into_response(),
        (Err(_), _) => Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .title("vision GraphiQL")
                .finish(),
        )
        .into_response(),
    }
}
