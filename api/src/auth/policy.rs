//! The policy: which role each root field needs, enforced by a schema extension on the parsed
//! document, before variables or arguments are looked at and before anything runs, over HTTP
//! and WebSocket alike. A refused operation runs no field at all.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{Positioned, Request, ServerResult, Variables};

use super::{Caller, Role};

/// The role a root field needs. Reading (queries, subscriptions) needs a viewer, except the
/// admins' own reads (API keys); sending images and labels an uploader; every other mutation
/// (replays, models, keys) an admin, so a new mutation is admin-only until it is listed here.
pub fn required_role(operation: OperationType, field: &str) -> Role {
    match operation {
        OperationType::Query => match field {
            "apiKeys" | "auditLog" => Role::Admin,
            _ => Role::Viewer,
        },
        OperationType::Subscription => Role::Viewer,
        OperationType::Mutation => match field {
            "uploadImage" | "uploadImages" => Role::Uploader,
            _ => Role::Admin,
        },
    }
}

/// The extension; one instance per request remembers the operation's name between hooks.
pub struct Policy;

impl ExtensionFactory for Policy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PolicyCheck::default())
    }
}

#[derive(Default)]
struct PolicyCheck {
    operation_name: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for PolicyCheck {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.operation_name.lock().expect("policy lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self.operation_name.lock().expect("policy lock").clone();
        if let Some(needed) = needed_role(&document, name.as_deref()) {
            // No caller in the data is a bug in a transport: refuse rather than run open.
            let caller = ctx.data_opt::<Caller>();
            let allowed = match caller {
                Some(caller) => caller.require(needed),
                None => Caller::anonymous(None).require(needed),
            };
            if let Err(refusal) = allowed {
                return Err(refusal.into_server_error(None));
            }
        }
        Ok(document)
    }
}

/// The operation a request runs: the only one, or the one named; `None` when the document
/// does not say (execution reports that, and runs nothing).
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, operation)| operation),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The highest role the selected operation's root fields need; `None` when the operation cannot
/// be told (execution reports that, and runs nothing).
fn needed_role(document: &ExecutableDocument, name: Option<&str>) -> Option<Role> {
    let operation = selected_operation(document, name)?;
    let ty = operation.node.ty;
    let mut fields = Vec::new();
    root_fields(document, &operation.node.selection_set.node, &mut fields, 0);
    Some(
        fields
            .iter()
            .map(|field| required_role(ty, field))
            .max()
            // An operation that selects nothing still needs a caller.
            .unwrap_or(Role::Viewer),
    )
}

/// The root fields a selection set selects, through fragment spreads and inline fragments
/// (bounded depth: fragment cycles are a validation error, reported later).
fn root_fields(
    document: &ExecutableDocument,
    set: &SelectionSet,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field.node.name.node.to_string()),
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, out, depth + 1)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_fields(document, &fragment.node.selection_set.node, out, depth + 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed(query: &str, name: Option<&str>) -> Option<Role> {
        needed_role(&async_graphql::parser::parse_query(query).unwrap(), name)
    }

    #[test]
    fn each_operation_needs_its_highest_root_field_role() {
        assert_eq!(needed("{ images { id } }", None), Some(Role::Viewer));
        assert_eq!(
            needed("subscription { imageCompleted { id } }", None),
            Some(Role::Viewer)
        );
        assert_eq!(
            needed("mutation { uploadImage(file: null) { id } }", None),
            Some(Role::Uploader)
        );
        assert_eq!(
            needed(
                "mutation { uploadImage(file: null) { id } startReplay { id } }",
                None
            ),
            Some(Role::Admin)
        );
        assert_eq!(
            needed("mutation { somethingNew }", None),
            Some(Role::Admin),
            "unlisted mutations are admin-only"
        );
    }

    #[test]
    fn fragments_do_not_hide_root_fields() {
        let query =
            "mutation { ...F } fragment F on Mutation { ... on Mutation { startReplay { id } } }";
        assert_eq!(needed(query, None), Some(Role::Admin));
        let query = "mutation M { ... { uploadImage(file: null) { id } } }";
        assert_eq!(needed(query, Some("M")), Some(Role::Uploader));
    }

    #[test]
    fn the_selected_operation_is_the_one_checked() {
        let query = "query Q { images { id } } mutation M { startReplay { id } }";
        assert_eq!(needed(query, Some("Q")), Some(Role::Viewer));
        assert_eq!(needed(query, Some("M")), Some(Role::Admin));
        assert_eq!(needed(query, None), None);
        assert_eq!(needed(query, Some("Nope")), None);
    }
}
