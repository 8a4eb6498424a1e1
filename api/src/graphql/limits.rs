//! Size limits of an operation's document, after graphql-armor and Apollo Router: bytes and
//! tokens before parsing (a huge document is refused without building its tree), aliases and
//! directives after. Depth ([`super::depth`]) and complexity (async-graphql) are limited apart.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::errors::{ApiError, ErrorCode};

/// Longest document, in bytes (the standard introspection query is about 1.6 KB; the
/// dashboard's longest document under 2 KB).
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
/// Most lexical tokens in a document (graphql-armor: 1,000; the introspection query has ~250).
pub const MAX_TOKENS: usize = 2_000;
/// Most aliased fields in a document (graphql-armor: 15), against alias amplification.
pub const MAX_ALIASES: usize = 15;
/// Most directives in a document (graphql-armor: 50).
pub const MAX_DIRECTIVES: usize = 50;

pub struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimits)
    }
}

fn refused(code: ErrorCode, message: String) -> ServerError {
    ApiError::new(code, message).into_server_error(None)
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(refused(
                ErrorCode::QueryTooLarge,
                format!(
                    "the document is {} bytes; at most {MAX_QUERY_BYTES} are allowed",
                    query.len()
                ),
            ));
        }
        let tokens = count_tokens(query, MAX_TOKENS + 1);
        if tokens > MAX_TOKENS {
            return Err(refused(
                ErrorCode::TooManyTokens,
                format!("the document has more than {MAX_TOKENS} tokens"),
            ));
        }
        let document = next.run(ctx, query, variables).await?;
        let mut counts = Counts::default();
        for (_, operation) in document.operations.iter() {
            counts.directives += operation.node.directives.len();
            counts.selection_set(&operation.node.selection_set.node);
        }
        for fragment in document.fragments.values() {
            counts.directives += fragment.node.directives.len();
            counts.selection_set(&fragment.node.selection_set.node);
        }
        if counts.aliases > MAX_ALIASES {
            return Err(refused(
                ErrorCode::TooManyAliases,
                format!(
                    "the document has {} aliases; at most {MAX_ALIASES} are allowed",
                    counts.aliases
                ),
            ));
        }
        if counts.directives > MAX_DIRECTIVES {
            return Err(refused(
                ErrorCode::TooManyDirectives,
                format!(
                    "the document has {} directives; at most {MAX_DIRECTIVES} are allowed",
                    counts.directives
                ),
            ));
        }
        Ok(document)
    }
}

#[derive(Default)]
struct Counts {
    aliases: usize,
    directives: usize,
}

impl Counts {
    /// Counts what the document itself holds (fragments once, where they are defined).
    fn selection_set(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    self.aliases += usize::from(field.node.alias.is_some());
                    self.directives += field.node.directives.len();
                    self.selection_set(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    self.directives += fragment.node.directives.len();
                    self.selection_set(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    self.directives += spread.node.directives.len();
                }
            }
        }
    }
}

/// The document's lexical tokens (names, numbers, strings, punctuators; not whitespace,
/// commas or comments), counted up to `stop`.
fn count_tokens(text: &str, stop: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut tokens) = (0, 0);
    while i < bytes.len() && tokens < stop {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' | 0xEF | 0xBB | 0xBF => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                tokens += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                tokens += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                tokens += 1;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => {
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'+' | b'-')
                {
                    i += 1;
                }
                tokens += 1;
            }
            _ => {
                i += 1;
                tokens += 1;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_like_a_graphql_lexer() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($x: Int = 5) { a(x: $x) { b } }", 100),
            22
        );
        assert_eq!(count_tokens("{ a(s: \"x, y { }\") }", 100), 8);
        assert_eq!(count_tokens("{ a(s: \"\"\"x\n\"y\" { }\"\"\") }", 100), 8);
        assert_eq!(count_tokens("# a comment { } { }\n{ ...F }", 100), 4);
        assert_eq!(count_tokens("{ a(f: -1.5e10) }", 100), 8);
        assert_eq!(count_tokens(&"{ a }".repeat(10_000), 50), 50);
    }

    #[test]
    fn aliases_and_directives_are_counted_in_fragments_too() {
        let document = async_graphql::parser::parse_query(
            "query Q @a { x: f @b { y: g } ...F } fragment F on T @c { z: h @d @e }",
        )
        .unwrap();
        let mut counts = Counts::default();
        for (_, op) in document.operations.iter() {
            counts.directives += op.node.directives.len();
            counts.selection_set(&op.node.selection_set.node);
        }
        for fragment in document.fragments.values() {
            counts.directives += fragment.node.directives.len();
            counts.selection_set(&fragment.node.selection_set.node);
        }
        assert_eq!((counts.aliases, counts.directives), (3, 5));
    }
}
