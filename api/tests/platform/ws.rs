//! A minimal GraphQL-over-WebSocket client speaking both protocols.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (graphql-ws library, current).
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws, legacy).
    LegacyWs,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

pub struct Subscriber {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
    /// Subscriptions the server reported complete while results were awaited.
    completed: Vec<String>,
}

const WAIT: Duration = Duration::from_secs(30);

impl Subscriber {
    /// Connects to `ws://addr/graphql` and completes the protocol's handshake.
    pub async fn connect(addr: &str, protocol: Protocol) -> Self {
        Self::try_connect(addr, protocol, json!({}))
            .await
            .unwrap_or_else(|refusal| panic!("connection refused: {refusal}"))
    }

    /// Connects with `payload` in `connection_init`; a refusal as `close <code>: <reason>` or
    /// `connection_error: <payload>`.
    pub async fn try_connect(
        addr: &str,
        protocol: Protocol,
        payload: Value,
    ) -> Result<Self, String> {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocol.name().parse().expect("header"),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket upgrade");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol.name())
        );
        let mut subscriber = Self {
            socket,
            protocol,
            completed: Vec::new(),
        };
        subscriber
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        loop {
            let message = tokio::time::timeout(WAIT, subscriber.socket.next())
                .await
                .expect("an answer to connection_init");
            match message {
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((0, String::new()));
                    return Err(format!("close {code}: {reason}"));
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    match value["type"].as_str() {
                        Some("connection_ack") => return Ok(subscriber),
                        Some("connection_error") => {
                            return Err(format!("connection_error: {}", value["payload"]));
                        }
                        _ => continue,
                    }
                }
                Some(Ok(_)) => continue,
                other => return Err(format!("socket ended: {other:?}")),
            }
        }
    }

    /// The next protocol message as it is (errors included), keep-alives skipped.
    pub async fn raw_next(&mut self, wait: Duration) -> Option<Value> {
        self.receive_within(wait).await
    }

    /// Waits for the server to close the socket; its close code and reason.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?
            {
                Some(Ok(Message::Close(frame))) => {
                    return Some(
                        frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((0, String::new())),
                    );
                }
                Some(Ok(_)) => continue,
                _ => return Some((0, String::new())),
            }
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// The next protocol message, answering pings and skipping keep-alives.
    async fn receive(&mut self) -> Value {
        self.receive_within(WAIT)
            .await
            .expect("no message within the time limit")
    }

    async fn receive_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?
                .expect("socket closed")
                .expect("socket error");
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("JSON message");
            match value["type"].as_str() {
                Some("ka") | Some("pong") => continue,
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                _ => return Some(value),
            }
        }
    }

    /// Starts a subscription under `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        self.send(json!({
            "id": id,
            "type": kind,
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The next result: `(subscription id, payload)` with `data` and maybe `errors`.
    pub async fn next(&mut self) -> (String, Value) {
        self.next_within(WAIT)
            .await
            .expect("no result within the time limit")
    }

    /// The next result if one comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        let data_kind = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::LegacyWs => "data",
        };
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.receive_within(left).await?;
            let kind = message["type"].as_str().unwrap_or_default();
            if kind == data_kind {
                let id = message["id"].as_str().expect("id").to_string();
                return Some((id, message["payload"].clone()));
            }
            if kind == "complete" {
                self.completed
                    .push(message["id"].as_str().unwrap_or_default().to_string());
            }
            assert_ne!(kind, "error", "subscription error: {message}");
            assert_ne!(kind, "connection_error", "connection error: {message}");
        }
    }

    /// Waits until the server completes subscription `id` (it may already have).
    pub async fn wait_complete(&mut self, id: &str) {
        while !self.completed.iter().any(|c| c == id) {
            let message = self.receive().await;
            match message["type"].as_str() {
                Some("complete") => self
                    .completed
                    .push(message["id"].as_str().unwrap_or_default().to_string()),
                Some("next" | "data") => {}
                _ => panic!("unexpected message while waiting for {id} to complete: {message}"),
            }
        }
    }
}
