//! Subscriptions over WebSocket (`graphql-transport-ws`, or the legacy `graphql-ws` of
//! subscriptions-transport-ws), with the caller's credentials taken from the `connection_init`
//! payload (`{"Authorization": "Bearer <key>"}`). A refused init closes the socket with the
//! protocol's codes: 4401 (no valid credentials), 4403 (forbidden); the legacy protocol gets a
//! `connection_error` instead. A session whose key is revoked later is closed with 4401 within
//! [`CHECK_EVERY`]; one that never completes its `connection_init` with 4408 after
//! [`INIT_TIMEOUT`].

use std::sync::{Arc, Mutex};

use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket as Socket};
use futures::{SinkExt, StreamExt, future};

use crate::auth::audit::{Audit, RequestMeta};
use crate::auth::shared::{LEASE, SharedCounters};
use crate::auth::{Authenticator, Caller};
use crate::errors::ErrorCode;
use crate::graphql::AppSchema;

/// What a refused init's message starts with, to give its close frame the protocol's code.
const REFUSED: &str = "\u{1}refused:";

/// What a WebSocket session needs besides the schema.
pub struct Session {
    pub auth: Authenticator,
    pub audit: Audit,
    pub meta: RequestMeta,
    /// Open sessions per caller (API key or token subject; per IP without one).
    pub sockets: SocketCounts,
}

/// Most sessions one caller may hold open at once.
const MAX_SOCKETS_PER_CALLER: usize = 32;
/// Most subscriptions one session may run at once.
const MAX_SUBSCRIPTIONS: usize = 64;

/// Open sessions per caller: in Redis across every replica when it is configured and answers
/// (each session holds a lease renewed while it lives), else in this gateway.
#[derive(Clone, Default)]
pub struct SocketCounts {
    local: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    shared: Option<SharedCounters>,
}

/// One counted session; uncounted when dropped (the socket ended, however).
struct Counted {
    counts: SocketCounts,
    who: String,
    /// The session's id in the shared set, when it was counted there.
    shared_id: Option<String>,
    renewed: std::time::Instant,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(id) = self.shared_id.take() {
            if let (Some(shared), Ok(runtime)) = (
                self.counts.shared.clone(),
                tokio::runtime::Handle::try_current(),
            ) {
                let who = std::mem::take(&mut self.who);
                // Unreachable Redis: the lease runs out by itself.
                runtime.spawn(async move {
                    let _ = shared.release(&who, &id).await;
                });
            }
            return;
        }
        let mut counts = self.counts.local.lock().expect("socket counts");
        if let Some(n) = counts.get_mut(&self.who) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.who);
            }
        }
    }
}

impl Counted {
    /// Renews a shared lease that is a third of the way through.
    async fn keep_alive(&mut self) {
        if let (Some(id), Some(shared)) = (&self.shared_id, &self.counts.shared)
            && self.renewed.elapsed() >= LEASE / 3
            && shared.admit(&self.who, id, usize::MAX).await.is_ok()
        {
            self.renewed = std::time::Instant::now();
        }
    }
}

impl SocketCounts {
    pub fn new(shared: Option<SharedCounters>) -> Self {
        Self {
            local: Arc::default(),
            shared,
        }
    }

    async fn admit(&self, who: String) -> Option<Counted> {
        if let Some(shared) = &self.shared {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(admitted) = shared.admit(&who, &id, MAX_SOCKETS_PER_CALLER).await {
                return admitted.then(|| Counted {
                    counts: self.clone(),
                    who,
                    shared_id: Some(id),
                    renewed: std::time::Instant::now(),
                });
            }
        }
        let mut counts = self.local.lock().expect("socket counts");
        let n = counts.entry(who.clone()).or_insert(0);
        if *n >= MAX_SOCKETS_PER_CALLER {
            return None;
        }
        *n += 1;
        Some(Counted {
            counts: self.clone(),
            who,
            shared_id: None,
            renewed: std::time::Instant::now(),
        })
    }
}

pub async fn serve(
    socket: Socket,
    schema: AppSchema,
    protocol: WebSocketProtocols,
    session: Session,
) {
    let (mut sink, stream) = socket.split();
    let active: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let (refuse_tx, mut refused_subscriptions) = tokio::sync::mpsc::unbounded_channel::<String>();
    let counted = active.clone();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(move |message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    let data = message.into_data();
                    admit_subscription(&counted, &data, &refuse_tx).then_some(data)
                }
                _ => None,
            })
        });
    let signed_in: Arc<Mutex<Option<Caller>>> = Arc::default();
    let legacy = protocol == WebSocketProtocols::SubscriptionsTransportWS;
    // The session's slot among its caller's open sessions, given back when this ends.
    let held: Arc<Mutex<Option<Counted>>> = Arc::default();
    let (auth, caller_slot, held_slot) = (session.auth.clone(), signed_in.clone(), held.clone());
    let on_init = move |payload: serde_json::Value| async move {
        let init = init(&session, payload).await?;
        *caller_slot.lock().expect("session lock") = Some(init.caller);
        *held_slot.lock().expect("session lock") = Some(init.counted);
        Ok(init.data)
    };
    let finished = active.clone();
    let mut output = WebSocket::new(schema, input, protocol)
        .on_connection_init(on_init)
        .map(|message| match message {
            // The legacy protocol's connection_error carries the refusal as text.
            WsMessage::Text(text) if text.contains(REFUSED) => {
                Message::Text(text.replace(REFUSED, "").into())
            }
            WsMessage::Text(text) => {
                // A subscription the server ended no longer counts.
                if (text.starts_with("{\"type\":\"complete\"")
                    || text.starts_with("{\"type\":\"error\""))
                    && let Some(id) = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_string))
                {
                    finished.lock().expect("subscriptions").remove(&id);
                }
                Message::Text(text.into())
            }
            WsMessage::Close(code, reason) => {
                let (code, reason) = close_frame(code, reason);
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        })
        .boxed();
    // A key revoked (or open mode ended) while the socket is open ends the session within a
    // check period, subscriptions included.
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.tick().await;
    let opened = std::time::Instant::now();
    loop {
        tokio::select! {
            Some(id) = refused_subscriptions.recv() => {
                let error = serde_json::json!({
                    "message": format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                    "extensions": { "code": ErrorCode::TooManyOperations.as_str() },
                });
                let payload = if legacy { error } else { serde_json::json!([error]) };
                let message = serde_json::json!({ "type": "error", "id": id, "payload": payload });
                if sink.send(Message::Text(message.to_string().into())).await.is_err() {
                    break;
                }
            }
            message = output.next() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = check.tick() => {
                let slot = held.lock().expect("session lock").take();
                if let Some(mut slot) = slot {
                    slot.keep_alive().await;
                    *held.lock().expect("session lock") = Some(slot);
                }
                let caller = signed_in.lock().expect("session lock").clone();
                let Some(caller) = caller else {
                    // graphql-transport-ws: no connection_init in time closes with 4408.
                    if opened.elapsed() >= INIT_TIMEOUT {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: 4408,
                                reason: "Connection initialisation timeout".into(),
                            })))
                            .await;
                        break;
                    }
                    continue;
                };
                if let Ok(false) = auth.still_valid(&caller).await {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: 4401,
                            reason: "UNAUTHENTICATED: the key was revoked".into(),
                        })))
                        .await;
                    break;
                }
            }
        }
    }
}

/// Lets a client message through, counting the subscriptions it starts and stops; a start
/// past [`MAX_SUBSCRIPTIONS`] is held back and its id sent to be refused.
fn admit_subscription(
    active: &Mutex<std::collections::HashSet<String>>,
    data: &[u8],
    refuse: &tokio::sync::mpsc::UnboundedSender<String>,
) -> bool {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(data) else {
        return true;
    };
    let (Some(kind), Some(id)) = (message["type"].as_str(), message["id"].as_str()) else {
        return true;
    };
    let mut active = active.lock().expect("subscriptions");
    match kind {
        "subscribe" | "start" if !active.contains(id) && active.len() >= MAX_SUBSCRIPTIONS => {
            let _ = refuse.send(id.to_string());
            false
        }
        "subscribe" | "start" => {
            active.insert(id.to_string());
            true
        }
        "complete" | "stop" => {
            active.remove(id);
            true
        }
        _ => true,
    }
}

/// Longest a socket may stay open without a successful `connection_init`.
const INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often an open session's key is checked again.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What init hands the schema, and the caller it signed in.
struct Init {
    data: Data,
    caller: Caller,
    /// The caller's slot among its open sessions, held for as long as the socket lives.
    counted: Counted,
}

/// The session's caller, or the refusal (marked so that [`close_frame`] can give it its code).
async fn init(session: &Session, payload: serde_json::Value) -> async_graphql::Result<Init> {
    let authorization = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .map(str::to_string);
    let refused = |code: ErrorCode, message: &str| {
        async_graphql::Error::new(format!("{REFUSED}{}:{message}", code.as_str()))
    };
    let refusal = match session.auth.authenticate(authorization.as_deref()).await {
        Ok(caller) if caller.role.is_some() => {
            let who = match caller.identified() {
                Some(who) => who.to_string(),
                None => format!("ip:{}", session.meta.ip.as_deref().unwrap_or("-")),
            };
            match session.sockets.admit(who).await {
                Some(counted) => {
                    let mut data = Data::default();
                    data.insert(caller.clone());
                    data.insert(session.meta.clone());
                    return Ok(Init {
                        data,
                        caller,
                        counted,
                    });
                }
                None => (
                    ErrorCode::TooManyConnections,
                    format!("at most {MAX_SOCKETS_PER_CALLER} open connections per caller"),
                ),
            }
        }
        Ok(_) => (
            ErrorCode::Unauthenticated,
            "sign in: send {\"Authorization\": \"Bearer <API key>\"} in connection_init"
                .to_string(),
        ),
        Err(error) => (error.code, error.message),
    };
    session
        .audit
        .record(
            Some(&crate::auth::Caller::unauthenticated()),
            Some(&session.meta),
            "authenticate (WebSocket)",
            refusal.0.as_str(),
            Some(refusal.1.clone()),
        )
        .await;
    Err(refused(refusal.0, &refusal.1))
}

/// A refused init's close code (4401 / 4403) and readable reason; other closes as they are.
fn close_frame(code: u16, reason: String) -> (u16, String) {
    let Some(rest) = reason.strip_prefix(REFUSED) else {
        return (code, reason);
    };
    let (name, message) = rest.split_once(':').unwrap_or((rest, ""));
    let code = if name == ErrorCode::Forbidden.as_str() {
        4403
    } else if name == ErrorCode::TooManyConnections.as_str() {
        4429
    } else if name == ErrorCode::Unauthenticated.as_str() {
        4401
    } else {
        4400
    };
    // A close reason is at most 123 bytes.
    let mut reason = format!("{name}: {message}");
    while reason.len() > 123 {
        reason.pop();
    }
    (code, reason)
}
