//! Gives the errors async-graphql raises itself (syntax, validation, limits) a stable
//! `extensions.code` too, so that clients match every refusal the same way.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use crate::errors::ErrorCode;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// A syntax error's message says what was expected where (its `locations`), without the
/// excerpt of the document the parser quotes: a response never echoes a caller's document.
fn without_echo(mut error: ServerError) -> ServerError {
    if error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
    {
        return error;
    }
    let expected = error
        .message
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("= "))
        .map(str::to_string);
    error.message = match expected {
        Some(expected) => format!("syntax error: {expected}"),
        None => "syntax error".to_string(),
    };
    error
}

/// The code of a validation error. The limit errors are recognised by async-graphql's message
/// (a test pins it, so an upgrade that changes it fails loudly).
fn validation_code(error: &ServerError) -> &'static str {
    match error.message.as_str() {
        "Query is nested too deep." => ErrorCode::QueryTooDeep.as_str(),
        "Query is too complex." => ErrorCode::QueryTooComplex.as_str(),
        _ => "GRAPHQL_VALIDATION_FAILED",
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(without_echo(e), "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = validation_code(&e);
                    with_code(e, code)
                })
                .collect()
        })
    }

    /// Whatever else async-graphql raises without a code (an unknown operation name, an
    /// argument it cannot coerce) gets one: a refusal of the request `BAD_REQUEST`, a field's
    /// `INVALID_ARGUMENT` (every error of ours has its code already).
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| {
                let code = if e.path.is_empty() {
                    ErrorCode::BadRequest.as_str()
                } else {
                    ErrorCode::InvalidArgument.as_str()
                };
                with_code(e, code)
            })
            .collect();
        response
    }
}
