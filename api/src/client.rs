//! A small GraphQL client of this API, for the command line (`vision upload|watch|stats|stream`):
//! queries over HTTP, uploads per the multipart request spec, subscriptions over
//! `graphql-transport-ws`.

use std::path::Path;

use anyhow::{Context as _, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An error the server answered, with its `extensions.code`.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServerError {
    pub code: String,
    pub message: String,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// `base` is the server's root URL (`http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn endpoint(&self) -> String {
        format!("{}/graphql", self.base)
    }

    /// Runs a query or mutation; its `data`, or the first error.
    pub async fn query(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.endpoint())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.endpoint()))?;
        data(response).await
    }

    /// Uploads one file as `uploadImage`; `selection` is what to read back from the image.
    pub async fn upload(
        &self,
        path: &Path,
        label: Option<&str>,
        source: &str,
        selection: &str,
    ) -> anyhow::Result<Value> {
        let query = format!(
            "mutation($file: Upload!, $label: String, $source: String) \
             {{ uploadImage(file: $file, label: $label, source: $source) {selection} }}"
        );
        let variables = json!({ "file": null, "label": label, "source": source });
        Ok(self.with_file(&query, variables, path).await?["uploadImage"].take())
    }

    /// Runs a mutation whose variable `file` is the file at `path` (GraphQL multipart request
    /// spec); its `data`, or the first error.
    pub async fn with_file(
        &self,
        query: &str,
        variables: Value,
        path: &Path,
    ) -> anyhow::Result<Value> {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "file".to_string());
        let operations = json!({ "query": query, "variables": variables });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.file"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(bytes).file_name(filename),
            );
        let response = self
            .http
            .post(self.endpoint())
            .header("apollo-require-preflight", "true")
            .multipart(form)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.endpoint()))?;
        data(response).await
    }

    /// Opens a WebSocket for subscriptions.
    pub async fn subscriptions(&self) -> anyhow::Result<Subscriptions> {
        Subscriptions::connect(&self.endpoint()).await
    }
}

async fn data(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let mut body: Value = response
        .json()
        .await
        .with_context(|| format!("the server answered {status} without a GraphQL body"))?;
    if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
        return Err(ServerError {
            code: error["extensions"]["code"]
                .as_str()
                .unwrap_or("ERROR")
                .to_string(),
            message: error["message"].as_str().unwrap_or("").to_string(),
        }
        .into());
    }
    Ok(body["data"].take())
}

/// Several subscriptions over one `graphql-transport-ws` connection.
pub struct Subscriptions {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// One message of a subscription.
#[derive(Debug)]
pub enum Update {
    /// A result (`data`) of subscription `id`.
    Next { id: String, data: Value },
    /// Subscription `id` ended.
    Complete { id: String },
}

impl Subscriptions {
    async fn connect(endpoint: &str) -> anyhow::Result<Self> {
        let url = endpoint.replacen("http", "ws", 1);
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("cannot open a WebSocket to {url}"))?;
        ws.send(Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await?;
        loop {
            let message = ws
                .next()
                .await
                .context("the server closed the WebSocket")??;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text)?;
                if value["type"] == "connection_ack" {
                    return Ok(Self { ws });
                }
            }
        }
    }

    pub async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(
                json!({
                    "id": id,
                    "type": "subscribe",
                    "payload": { "query": query, "variables": variables },
                })
                .to_string(),
            ))
            .await?;
        Ok(())
    }

    pub async fn unsubscribe(&mut self, id: &str) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(
                json!({"id": id, "type": "complete"}).to_string(),
            ))
            .await?;
        Ok(())
    }

    /// The next update; `None` when the server closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<Update>> {
        while let Some(message) = self.ws.next().await {
            let Message::Text(text) = message? else {
                continue;
            };
            let mut value: Value = serde_json::from_str(&text)?;
            let id = value["id"].as_str().unwrap_or_default().to_string();
            match value["type"].as_str() {
                Some("next") => {
                    if let Some(error) = value["payload"]["errors"]
                        .as_array()
                        .and_then(|e| e.first())
                    {
                        bail!("subscription {id}: {}", error["message"]);
                    }
                    return Ok(Some(Update::Next {
                        id,
                        data: value["payload"]["data"].take(),
                    }));
                }
                Some("complete") => return Ok(Some(Update::Complete { id })),
                Some("error") => bail!("subscription {id} refused: {}", value["payload"]),
                Some("ping") => {
                    self.ws
                        .send(Message::text(json!({"type": "pong"}).to_string()))
                        .await?;
                }
                _ => {}
            }
        }
        Ok(None)
    }
}
