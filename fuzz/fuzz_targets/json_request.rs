//! The gateway's JSON request reader (`api/src/http/graphql/params.rs`, compiled here on its
//! own) and the GraphQL parser behind it: any body is read or refused with a reason, never a
//! panic; a read request's document parses or is refused.
#![no_main]

#[path = "../../api/src/http/graphql/params.rs"]
#[allow(dead_code)]
mod params;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(batch) = params::from_json_body(bytes) {
        let requests = match batch {
            async_graphql::BatchRequest::Single(request) => vec![request],
            async_graphql::BatchRequest::Batch(requests) => requests,
        };
        for request in requests {
            let _ = async_graphql::parser::parse_query(&request.query);
        }
    }
    // The same bytes as a GET query string's `query` and `variables`.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let pairs = [("query", text), ("variables", text)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let _ = params::from_query_string(pairs);
    }
});
