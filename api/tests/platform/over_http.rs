//! GraphQL over HTTP (the specification `graphql-http` audits, whose full suite runs in
//! `api/tests/clients`): GET executes queries only, both JSON media types with their status
//! codes, request errors without `data`, refusals with codes.

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE, VARY};
use serde_json::{Value, json};

use crate::common::TestApp;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn read(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.expect("a JSON body");
    (status, content_type, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_executes_queries_and_refuses_mutations() {
    let app = TestApp::start().await;
    let url = format!("{}/graphql", app.base);

    let response = app
        .client
        .get(&url)
        .query(&[
            (
                "query",
                "query Q($n: String!) { __type(name: $n) { name } }",
            ),
            ("variables", r#"{"n":"Query"}"#),
        ])
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[VARY], "Accept");
    let (status, content_type, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    assert_eq!(body, json!({ "data": { "__type": { "name": "Query" } } }));

    // Any Accept (curl, fetch) means application/json.
    let response = app
        .client
        .get(&url)
        .query(&[("query", "{ classes }")])
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = read(response).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(
        body["data"]["classes"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );

    for (query, operation) in [
        ("mutation { startReplay(input: {}) { id } }", None),
        (
            "query Q { classes } mutation M { archiveModelVersion }",
            Some("M"),
        ),
        ("subscription { statsUpdated { model } }", None),
    ] {
        let mut pairs = vec![("query", query)];
        if let Some(operation) = operation {
            pairs.push(("operationName", operation));
        }
        let response = app
            .client
            .get(&url)
            .query(&pairs)
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[ALLOW], "POST", "{query}");
        let (status, _, body) = read(response).await;
        assert_eq!(status, 405, "{query}: {body}");
        assert_eq!(code(&body), "METHOD_NOT_ALLOWED");
    }
    // Nothing ran: no replay was started.
    let replays = app.query("{ replays { id } }", json!({})).await;
    assert_eq!(replays["replays"], json!([]));

    let response = app
        .client
        .get(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BAD_REQUEST");
    assert!(body.get("data").is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_have_the_media_types_status_and_no_data() {
    let app = TestApp::start().await;
    let url = format!("{}/graphql", app.base);
    // Malformed requests get 400 in either media type; documents refused by syntax or
    // validation get 400 as graphql-response+json and 200 as application/json.
    let cases: [(&str, &str, u16); 4] = [
        (r#"{ "not a JSON"#, "BAD_REQUEST", 400),
        (r#"{"qeury":"{ classes }"}"#, "BAD_REQUEST", 400),
        (r#"{"query":"{"}"#, "GRAPHQL_PARSE_FAILED", 200),
        (
            r#"{"query":"{ noSuchField }"}"#,
            "GRAPHQL_VALIDATION_FAILED",
            200,
        ),
    ];
    for (request, expected, json_status) in cases {
        for (accept, expected_status) in
            [(GRAPHQL_RESPONSE, 400), ("application/json", json_status)]
        {
            let response = app
                .client
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, accept)
                .body(request)
                .send()
                .await
                .unwrap();
            let (status, content_type, body) = read(response).await;
            assert_eq!(status, expected_status, "{request} as {accept}: {body}");
            assert!(content_type.starts_with(accept), "{content_type}");
            assert_eq!(code(&body), expected, "{request}: {body}");
            assert!(body.get("data").is_none(), "{request}: {body}");
        }
    }

    // A field error is not a request error: 200 with data, either way.
    let response = app
        .client
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({ "query": "{ image(id: \"nope\") { id } }" }))
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("data").is_some(), "{body}");
    assert!(body.get("errors").is_some(), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_other_types_are_refused_and_run_nothing() {
    let app = TestApp::start().await;
    let url = format!("{}/graphql", app.base);
    let mutation = r#"{"query":"mutation { startReplay(input: {}) { id } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/graphql"),
        None,
    ] {
        let mut request = app.client.post(&url).body(mutation);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let (status, _, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert_eq!(code(&body), "UNSUPPORTED_MEDIA_TYPE");
    }
    let response = app
        .client
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "image/png")
        .body(r#"{"query":"{ classes }"}"#)
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 406, "{body}");
    assert_eq!(code(&body), "NOT_ACCEPTABLE");

    let replays = app.query("{ replays { id } }", json!({})).await;
    assert_eq!(replays["replays"], json!([]));
    app.stop().await;
}

/// The standard introspection query (graphql-js' `getIntrospectionQuery`: GraphiQL, codegen,
/// IDEs) is deeper than the depth limit by design; introspection is exempt, data is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_is_exempt_from_the_depth_limit() {
    let app = TestApp::start().await;
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { \
                    kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let query = format!(
        "{{ __schema {{ queryType {{ name }} types {{ name fields(includeDeprecated: true) {{ \
         name args {{ name type {{ {type_ref} }} }} type {{ {type_ref} }} }} }} }} }}"
    );
    let data = app.query(&query, json!({})).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Image"), "{data}");
    app.stop().await;
}

/// Apollo's CSRF prevention: a multipart request (which a cross-site form can send without a
/// CORS preflight) needs `apollo-require-preflight` or `x-apollo-operation-name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_without_a_preflight_header_is_refused() {
    let app = TestApp::start().await;
    let form = || {
        reqwest::multipart::Form::new()
            .text(
                "operations",
                json!({ "query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }",
                        "variables": { "f": null } })
                .to_string(),
            )
            .text("map", json!({ "0": ["variables.f"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(crate::images::png(crate::images::RED))
                    .file_name("a.png"),
            )
    };
    let url = format!("{}/graphql", app.base);
    let response = app
        .client
        .post(&url)
        .multipart(form())
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "CSRF_PREVENTED");
    app.assert_nothing_stored().await;

    for header in ["apollo-require-preflight", "x-apollo-operation-name"] {
        let response = app
            .client
            .post(&url)
            .header(header, "Upload")
            .multipart(form())
            .send()
            .await
            .unwrap();
        let (status, _, body) = read(response).await;
        assert_eq!(status, 200, "{header}: {body}");
        assert!(body["data"]["uploadImage"]["id"].is_string(), "{body}");
    }
    app.stop().await;
}
