//! The GraphQL API: schema, resolvers, dataloaders and the guards against abusive queries.

mod error_codes;
mod experiments;
mod ids;
mod live;
mod loaders;
mod mutation;
mod pagination;
mod query;
mod registry;
mod replay;
mod statistics;
mod subscription;
pub mod types;

use async_graphql::{Schema, SchemaBuilder};

pub use loaders::Loaders;
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

use crate::state::AppState;

/// Deepest selection accepted; the deepest useful query (a prediction's image's predictions'
/// top-k) is 5 levels.
pub const MAX_DEPTH: usize = 10;
/// Most fields a query may select, against alias amplification.
pub const MAX_COMPLEXITY: usize = 500;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(error_codes::ErrorCodes)
}

/// The served schema, resolving against `state`.
pub fn schema(state: AppState) -> AppSchema {
    let loaders = Loaders::new(state.db.clone());
    builder().data(state).data(loaders).finish()
}

/// The schema in SDL, as kept in `schema.graphql`: two-space indents and one-line descriptions
/// where they fit, the way graphql-js prints schemas.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .prefer_single_line_descriptions()
        .use_space_ident()
        .indent_width(2);
    builder().finish().sdl_with_options(options)
}
