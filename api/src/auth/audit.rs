//! The audit log of callers' actions (F25): every mutation (with its outcome; an upload
//! refused as OVERLOADED is counted in metrics instead), every refused operation and every
//! failed authentication, recorded by [`Audit`] with who, their role, IP
//! and the request id. Entries are hash-chained in the database (`vision audit verify`).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};
use vision_db::{Db, NewAuditEntry};

use super::Caller;

/// Where a request came from, for the record.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    /// The caller's `x-request-id` when it sent one, else a new UUID.
    pub request_id: String,
}

impl RequestMeta {
    pub fn new(ip: Option<String>, headers: &axum::http::HeaderMap) -> Self {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 100)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        Self { ip, request_id }
    }
}

/// Writes entries; a failure to write is logged, never the caller's error (the action itself
/// already happened or was refused).
#[derive(Clone)]
pub struct Audit {
    db: Db,
}

impl Audit {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn record(
        &self,
        caller: Option<&Caller>,
        meta: Option<&RequestMeta>,
        operation: &str,
        outcome: &str,
        detail: Option<String>,
    ) {
        let entry = NewAuditEntry {
            actor: caller.map_or_else(|| "unknown".to_string(), |c| c.actor.clone()),
            role: caller.and_then(|c| c.role).map(|r| r.as_str().to_string()),
            ip: meta.and_then(|m| m.ip.clone()),
            request_id: meta.map_or_else(|| "-".to_string(), |m| m.request_id.clone()),
            operation: operation.to_string(),
            outcome: outcome.to_string(),
            detail,
        };
        if let Err(error) = self.db.append_audit(entry).await {
            tracing::error!(%error, operation, outcome, "could not write the audit log");
        }
    }
}

/// The schema extension that records mutations and refused operations.
pub struct AuditTrail;

impl ExtensionFactory for AuditTrail {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditStep::default())
    }
}

/// One request's operation, remembered from parsing to execution.
#[derive(Default)]
struct AuditStep {
    mutation: Mutex<Option<String>>,
}

fn audit(ctx: &ExtensionContext<'_>) -> Option<Audit> {
    ctx.data_opt::<crate::state::AppState>()
        .map(|state| state.audit.clone())
}

/// The first error's code, or `OK`.
fn outcome_of(errors: &[async_graphql::ServerError]) -> String {
    errors
        .iter()
        .find_map(|e| match e.extensions.as_ref()?.get("code")? {
            async_graphql::Value::String(code) => Some(code.clone()),
            _ => None,
        })
        .unwrap_or_else(|| if errors.is_empty() { "OK" } else { "ERROR" }.to_string())
}

#[async_trait::async_trait]
impl Extension for AuditStep {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        match next.run(ctx, query, variables).await {
            Ok(document) => {
                let mutations: Vec<String> = document
                    .operations
                    .iter()
                    .filter(|(_, op)| op.node.ty == OperationType::Mutation)
                    .flat_map(|(_, op)| {
                        op.node.selection_set.node.items.iter().filter_map(|item| {
                            match &item.node {
                                async_graphql::parser::types::Selection::Field(f) => {
                                    Some(f.node.name.node.to_string())
                                }
                                _ => None,
                            }
                        })
                    })
                    .collect();
                if !mutations.is_empty() {
                    *self.mutation.lock().expect("audit lock") =
                        Some(format!("mutation {}", mutations.join(",")));
                }
                Ok(document)
            }
            Err(error) => {
                // Refusals by the policy (not signed in, role too low) are on the record.
                let code = outcome_of(std::slice::from_ref(&error));
                if (code == "UNAUTHENTICATED" || code == "FORBIDDEN")
                    && let Some(audit) = audit(ctx)
                {
                    audit
                        .record(
                            ctx.data_opt::<Caller>(),
                            ctx.data_opt::<RequestMeta>(),
                            &operation_words(query),
                            &code,
                            Some(error.message.clone()),
                        )
                        .await;
                }
                Err(error)
            }
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let mutation = self.mutation.lock().expect("audit lock").clone();
        let outcome = outcome_of(&response.errors);
        // An upload refused because the pipeline is full is not an action of the caller's
        // (nothing was done, and it is counted in `vision_images_rejected_total`): written
        // down one by one, refusals would load the database most when it is busiest.
        if outcome == "OVERLOADED" {
            return response;
        }
        if let (Some(operation), Some(audit)) = (mutation, audit(ctx)) {
            let detail = response.errors.first().map(|e| e.message.clone());
            audit
                .record(
                    ctx.data_opt::<Caller>(),
                    ctx.data_opt::<RequestMeta>(),
                    &operation,
                    &outcome,
                    detail,
                )
                .await;
        }
        response
    }
}

/// A refused document, for the record: its kind and root fields (`mutation startReplay`), or
/// when it does not parse its first words up to the first brace; never its arguments.
fn operation_words(query: &str) -> String {
    if let Ok(document) = async_graphql::parser::parse_query(query) {
        let named: Vec<String> = document
            .operations
            .iter()
            .map(|(_, op)| {
                let kind = match op.node.ty {
                    OperationType::Query => "query",
                    OperationType::Mutation => "mutation",
                    OperationType::Subscription => "subscription",
                };
                let fields: Vec<String> = op
                    .node
                    .selection_set
                    .node
                    .items
                    .iter()
                    .filter_map(|item| match &item.node {
                        async_graphql::parser::types::Selection::Field(f) => {
                            Some(f.node.name.node.to_string())
                        }
                        _ => None,
                    })
                    .collect();
                format!("{kind} {}", fields.join(",")).trim().to_string()
            })
            .collect();
        if !named.is_empty() {
            return named.join("; ").chars().take(200).collect();
        }
    }
    first_words(query)
}

fn first_words(query: &str) -> String {
    let head = query.split('{').next().unwrap_or("").trim();
    let head = head.split('(').next().unwrap_or("").trim();
    let words: String = head.chars().take(80).collect();
    if words.is_empty() {
        "query".to_string()
    } else {
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_documents_are_named_without_their_arguments() {
        assert_eq!(operation_words("{ classes }"), "query classes");
        assert_eq!(
            operation_words("mutation Promote($v: Int!) { x(v: $v) { id } y }"),
            "mutation x,y"
        );
        assert_eq!(operation_words("  subscription { a }"), "subscription a");
        assert_eq!(operation_words("mutation Broken { "), "mutation Broken");
    }
}
