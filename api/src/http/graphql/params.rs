//! The request parameters of GraphQL over HTTP (`query`, `operationName`, `variables`,
//! `extensions`), from a JSON body or a GET query string, each checked for its type so that a
//! malformed request is refused with a reason before anything runs.

use std::collections::HashMap;

use async_graphql::{BatchRequest, Request};
use serde_json::{Map, Value};

/// A request refused before execution (the spec's "request error"), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError(pub String);

/// A JSON body: one request object, or a non-empty array of them (a batch).
pub fn from_json_body(body: &[u8]) -> Result<BatchRequest, ParamsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParamsError(
            "the request body is empty: send a JSON object with a `query`".into(),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ParamsError(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(ParamsError("the batch holds no request".into()))
        }
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => from_object(map),
                other => Err(ParamsError(format!(
                    "a batch holds request objects, not {}",
                    kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(BatchRequest::Batch),
        Value::Object(map) => from_object(map).map(BatchRequest::Single),
        other => Err(ParamsError(format!(
            "a GraphQL request is a JSON object, not {}",
            kind(&other)
        ))),
    }
}

/// A GET query string: `query`, `operationName`, and `variables` / `extensions` as JSON text.
pub fn from_query_string(pairs: HashMap<String, String>) -> Result<Request, ParamsError> {
    let mut map = Map::new();
    for (key, text) in pairs {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&text)
                .map_err(|e| ParamsError(format!("`{key}` is not valid JSON: {e}")))?,
            _ => Value::String(text),
        };
        map.insert(key, value);
    }
    from_object(map)
}

fn from_object(mut map: Map<String, Value>) -> Result<Request, ParamsError> {
    let mut checked = Map::new();
    match map.remove("query") {
        Some(Value::String(query)) => checked.insert("query".into(), Value::String(query)),
        None | Some(Value::Null) => {
            return Err(ParamsError("the request has no `query`".into()));
        }
        Some(other) => {
            return Err(ParamsError(format!(
                "`query` must be a string, not {}",
                kind(&other)
            )));
        }
    };
    for (key, expected) in [
        ("operationName", "a string"),
        ("variables", "an object"),
        ("extensions", "an object"),
    ] {
        match map.remove(key) {
            None | Some(Value::Null) => {}
            Some(value @ Value::String(_)) if key == "operationName" => {
                checked.insert(key.into(), value);
            }
            Some(value @ Value::Object(_)) if key != "operationName" => {
                checked.insert(key.into(), value);
            }
            Some(other) => {
                return Err(ParamsError(format!(
                    "`{key}` must be {expected} or null, not {}",
                    kind(&other)
                )));
            }
        }
    }
    serde_json::from_value(Value::Object(checked))
        .map_err(|e| ParamsError(format!("invalid GraphQL request: {e}")))
}

/// Whether the operation a request selects is a query (or cannot be told because the document
/// does not parse or names no such operation: execution then reports that). Left out of the
/// fuzzer's build (`fuzz/`), which compiles this file on its own.
#[cfg(not(fuzzing))]
pub fn selects_query(request: &Request) -> bool {
    use async_graphql::parser::types::OperationType;
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let operation =
        crate::auth::policy::selected_operation(&document, request.operation_name.as_deref());
    operation.is_none_or(|operation| operation.node.ty == OperationType::Query)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Result<Request, ParamsError> {
        match from_json_body(body.as_bytes())? {
            BatchRequest::Single(request) => Ok(request),
            BatchRequest::Batch(_) => panic!("a batch"),
        }
    }

    #[test]
    fn well_formed_requests_are_read_whole() {
        let request = single(
            r#"{"query":"query Q($n: String!) { __type(name: $n) { name } }",
                "operationName":"Q","variables":{"n":"Query"},"extensions":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        assert_eq!(
            request.variables.into_value().into_json().unwrap(),
            serde_json::json!({ "n": "Query" })
        );
        let request = single(
            r#"{"query":"{ __typename }","operationName":null,"variables":null,"extensions":null}"#,
        )
        .unwrap();
        assert_eq!(request.query, "{ __typename }");
        match from_json_body(br#"[{"query":"{ a }"},{"query":"{ b }"}]"#).unwrap() {
            BatchRequest::Batch(requests) => assert_eq!(requests.len(), 2),
            BatchRequest::Single(_) => panic!("not a batch"),
        }
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        for body in [
            "",
            "  ",
            r#"{ "not a JSON"#,
            "[]",
            "42",
            r#"{"qeury":"{ a }"}"#,
            r#"{"query":{"obj":"ect"}}"#,
            r#"{"query":0}"#,
            r#"{"query":false}"#,
            r#"{"query":["array"]}"#,
            r#"{"query":"{ a }","operationName":0}"#,
            r#"{"query":"{ a }","operationName":{"obj":"ect"}}"#,
            r#"{"query":"{ a }","variables":"string"}"#,
            r#"{"query":"{ a }","variables":["array"]}"#,
            r#"{"query":"{ a }","extensions":false}"#,
            r#"[{"query":"{ a }"}, 1]"#,
        ] {
            let error = from_json_body(body.as_bytes()).err();
            assert!(error.is_some(), "{body:?} was accepted");
        }
    }

    #[test]
    fn get_parameters_carry_json_variables() {
        let pairs = HashMap::from([
            (
                "query".to_string(),
                "query Q($n: String!) { a }".to_string(),
            ),
            ("variables".to_string(), r#"{"n":"x"}"#.to_string()),
        ]);
        assert!(from_query_string(pairs).is_ok());
        let pairs = HashMap::from([
            ("query".to_string(), "{ a }".to_string()),
            ("variables".to_string(), "{oops".to_string()),
        ]);
        assert!(from_query_string(pairs).is_err());
        assert!(from_query_string(HashMap::new()).is_err());
    }

    #[test]
    fn only_queries_are_told_apart_from_mutations() {
        let request = |query: &str, name: Option<&str>| {
            let mut request = Request::new(query);
            request.operation_name = name.map(str::to_string);
            request
        };
        assert!(selects_query(&request("{ a }", None)));
        assert!(selects_query(&request("query Q { a }", None)));
        assert!(!selects_query(&request("mutation { a }", None)));
        assert!(!selects_query(&request("subscription { a }", None)));
        let both = "query Q { a } mutation M { b }";
        assert!(selects_query(&request(both, Some("Q"))));
        assert!(!selects_query(&request(both, Some("M"))));
        // Unparseable or ambiguous: execution reports it.
        assert!(selects_query(&request("{", None)));
        assert!(selects_query(&request(both, None)));
    }
}

/// Property-based tests (issue "Security"): no body, JSON document or query string makes the
/// request reader panic; every well-formed request is read whole. 10,000 cases each.
#[cfg(test)]
mod props {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 10_000,
            ..ProptestConfig::default()
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e300f64..1e300).prop_map(|f| json!(f)),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::hash_map(
                    prop_oneof![
                        Just("query".to_string()),
                        Just("operationName".to_string()),
                        Just("variables".to_string()),
                        Just("extensions".to_string()),
                        "[a-zA-Z]{0,8}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = from_json_body(&bytes);
        }

        #[test]
        fn any_json_is_read_or_refused(value in any_json()) {
            let _ = from_json_body(value.to_string().as_bytes());
        }

        #[test]
        fn well_formed_requests_are_read_whole(
            query in ".{0,200}",
            name in prop::option::of("[A-Za-z_][A-Za-z0-9_]{0,20}"),
            variables in prop::collection::hash_map("[a-z]{1,8}", any::<i64>(), 0..5),
        ) {
            let body = json!({ "query": query, "operationName": name, "variables": variables });
            match from_json_body(body.to_string().as_bytes()) {
                Ok(BatchRequest::Single(request)) => {
                    prop_assert_eq!(request.query, query);
                    prop_assert_eq!(request.operation_name, name);
                }
                other => prop_assert!(false, "{:?}", other.err()),
            }
        }

        #[test]
        fn any_query_string_is_read_or_refused(
            pairs in prop::collection::hash_map(
                prop_oneof![Just("query".to_string()), Just("variables".to_string()), Just("extensions".to_string()), Just("operationName".to_string()), ".{0,8}"],
                ".{0,64}",
                0..6,
            ),
        ) {
            let pairs: HashMap<String, String> = pairs;
            if let Ok(request) = from_query_string(pairs) {
                let _ = selects_query(&request);
            }
        }

        #[test]
        fn any_document_is_told_query_or_not(query in ".{0,200}", name in prop::option::of(".{0,10}")) {
            let mut request = Request::new(query);
            request.operation_name = name;
            let _ = selects_query(&request);
        }
    }
}
