//! The GraphQL API: schema, resolvers, dataloaders and the guards against abusive queries.

mod access;
mod depth;
mod error_codes;
mod experiments;
mod ids;
mod jobs;
mod limits;
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

pub use depth::MAX_DEPTH;
/// Most fields a query may select, against alias amplification.
pub const MAX_COMPLEXITY: usize = 500;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_complexity(MAX_COMPLEXITY)
    .extension(limits::DocumentLimits)
    .extension(depth::DepthLimit)
    .extension(error_codes::ErrorCodes)
    .extension(crate::auth::audit::AuditTrail)
    .extension(crate::auth::rate::RateLimit)
    .extension(crate::auth::policy::Policy)
}

/// Who the request's changes are recorded as made by: the caller's key (`key:<id>`), or
/// `anonymous` on an open platform.
pub(crate) fn actor(ctx: &async_graphql::Context<'_>) -> String {
    ctx.data_opt::<crate::auth::Caller>()
        .map_or_else(|| "anonymous".to_string(), |caller| caller.actor.clone())
}

/// What a production deployment may turn off (both on by default).
#[derive(Clone, Copy, Debug)]
pub struct Exposure {
    /// `__schema` / `__type` (GraphiQL, codegen and IDEs need it).
    pub introspection: bool,
    /// "Did you mean ...?" in validation errors (they reveal field names).
    pub suggestions: bool,
}

/// The served schema, resolving against `state`.
pub fn schema(state: AppState, exposure: Exposure) -> AppSchema {
    let loaders = Loaders::new(state.db.clone());
    let mut builder = builder().data(state).data(loaders);
    if !exposure.introspection {
        builder = builder.disable_introspection();
    }
    if !exposure.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as kept in `schema.graphql`, printed the way graphql-js prints schemas:
/// two-space indents, block descriptions, one line each where the text is one line.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .prefer_single_line_descriptions()
        .use_space_ident()
        .indent_width(2);
    let sdl = builder().finish().sdl_with_options(options);
    let mut printed = String::with_capacity(sdl.len());
    // Inside a multi-line block description, lines are text and stay as they are.
    let mut in_block = false;
    for line in sdl.lines() {
        if line.trim() == "\"\"\"" {
            in_block = !in_block;
        }
        let block = (!in_block)
            .then(|| single_line_block_description(line))
            .flatten();
        printed.push_str(block.as_deref().unwrap_or(line));
        printed.push('\n');
    }
    printed
}

/// `  "text"` as `  """text"""`, when the line is a one-line string description whose text can
/// stand in a block string unchanged.
fn single_line_block_description(line: &str) -> Option<String> {
    let indent = &line[..line.len() - line.trim_start().len()];
    let quoted = line.trim_start();
    if !(quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'))
        || quoted.starts_with("\"\"\"")
    {
        return None;
    }
    let text: String = serde_json::from_str(quoted).ok()?;
    let plain = !text.is_empty()
        && !text.contains("\"\"\"")
        && !text.contains('\\')
        && !text.ends_with('"')
        && !text.chars().any(char::is_control);
    plain.then(|| format!("{indent}\"\"\"{text}\"\"\""))
}
