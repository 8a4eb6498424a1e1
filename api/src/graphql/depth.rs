//! The depth limit, as graphql-armor applies it: every operation at most [`MAX_DEPTH`] fields
//! deep, except inside introspection (`__schema`, `__type`), whose standard query (graphql-js'
//! `getIntrospectionQuery`, used by GraphiQL, codegen and IDEs) is about 13 deep by design and
//! is bounded by the schema rather than by the data. async-graphql's own limit cannot make that
//! exception, so this extension checks depth on the parsed document instead.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerResult, Variables};

use crate::errors::{ApiError, ErrorCode};

/// Deepest selection accepted outside introspection; the deepest useful query (a prediction's
/// image's predictions' top-k) is 5 levels.
pub const MAX_DEPTH: usize = 10;

pub struct DepthLimit;

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DepthLimit)
    }
}

#[async_trait::async_trait]
impl Extension for DepthLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            let depth = depth(&document, &operation.node.selection_set.node, 0);
            if depth > MAX_DEPTH {
                return Err(ApiError::new(
                    ErrorCode::QueryTooDeep,
                    format!("the query is {depth} fields deep; at most {MAX_DEPTH} are allowed"),
                )
                .into_server_error(Some(operation.pos)));
            }
        }
        Ok(document)
    }
}

/// How deep a selection set goes (fragments counted where they are spread; `hops` bounds
/// fragment cycles, which validation reports).
fn depth(document: &ExecutableDocument, set: &SelectionSet, hops: usize) -> usize {
    if hops > 64 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if name == "__schema" || name == "__type" {
                    1
                } else {
                    1 + depth(document, &field.node.selection_set.node, hops)
                }
            }
            Selection::InlineFragment(fragment) => {
                depth(document, &fragment.node.selection_set.node, hops + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| {
                    depth(document, &fragment.node.selection_set.node, hops + 1)
                }),
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deepest(query: &str) -> usize {
        let document = async_graphql::parser::parse_query(query).unwrap();
        document
            .operations
            .iter()
            .map(|(_, op)| depth(&document, &op.node.selection_set.node, 0))
            .max()
            .unwrap()
    }

    #[test]
    fn depth_counts_fields_through_fragments_but_not_introspection() {
        assert_eq!(deepest("{ a }"), 1);
        assert_eq!(deepest("{ a { b { c } } }"), 3);
        assert_eq!(deepest("{ a { ...F } } fragment F on T { b { c } }"), 3);
        assert_eq!(deepest("{ a { ... on T { b } } }"), 2);
        assert_eq!(
            deepest("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"),
            1
        );
        assert_eq!(deepest("{ __typename a { b } }"), 2);
        // A fragment cycle ends (validation rejects it afterwards).
        assert!(deepest("{ a { ...F } } fragment F on T { b { ...F } }") > MAX_DEPTH);
    }
}
