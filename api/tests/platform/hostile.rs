//! Hostile requests, one table: each is refused with its HTTP status and `extensions.code`, the
//! server stays healthy after each, and nothing is half-written (no image row, no object).

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::images::{self, RED};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// How a case's request is made: method, headers and body on `/graphql` (or another path).
enum Body {
    None,
    Raw(&'static str, String),
    Json(Value),
    Multipart(Value, Vec<(String, Vec<u8>)>, bool),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    accept: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Body,
    status: u16,
    code: &'static str,
}

fn post(name: &'static str, body: Body, status: u16, code: &'static str) -> Case {
    Case {
        name,
        method: Method::POST,
        path: "/graphql".into(),
        accept: GRAPHQL_RESPONSE,
        headers: Vec::new(),
        body,
        status,
        code,
    }
}

fn query(name: &'static str, query: String, code: &'static str) -> Case {
    post(name, Body::Json(json!({ "query": query })), 400, code)
}

fn get(name: &'static str, params: &str, status: u16, code: &'static str) -> Case {
    Case {
        name,
        method: Method::GET,
        path: format!("/graphql?{params}"),
        accept: GRAPHQL_RESPONSE,
        headers: Vec::new(),
        body: Body::None,
        status,
        code,
    }
}

fn upload(name: &'static str, file: Vec<u8>, label: Option<&str>, code: &'static str) -> Case {
    let operations = json!({
        "query": "mutation($f: Upload!, $l: String) { uploadImage(file: $f, label: $l) { id } }",
        "variables": { "f": null, "l": label },
    });
    post(
        name,
        Body::Multipart(operations, vec![("variables.f".into(), file)], true),
        200,
        code,
    )
}

fn request(client: &reqwest::Client, base: &str, case: &Case) -> RequestBuilder {
    let mut request = client
        .request(case.method.clone(), format!("{base}{}", case.path))
        .header("accept", case.accept);
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    match &case.body {
        Body::None => request,
        Body::Raw(content_type, text) => {
            let request = request.body(text.clone());
            if content_type.is_empty() {
                request
            } else {
                request.header("content-type", *content_type)
            }
        }
        Body::Json(value) => request.json(value),
        Body::Multipart(operations, files, preflight) => {
            let map: serde_json::Map<String, Value> = files
                .iter()
                .enumerate()
                .map(|(i, (path, _))| (i.to_string(), json!([path])))
                .collect();
            let mut form = reqwest::multipart::Form::new()
                .text("operations", operations.to_string())
                .text("map", Value::Object(map).to_string());
            for (i, (_, bytes)) in files.iter().enumerate() {
                form = form.part(
                    i.to_string(),
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name(format!("f{i}")),
                );
            }
            let request = request.multipart(form);
            if *preflight {
                request.header("apollo-require-preflight", "true")
            } else {
                request
            }
        }
    }
}

/// Sends `request` over a raw socket, writing its body in the background (write errors
/// ignored: the server may close before the end), and reads the answer's status and body.
async fn raw_exchange(addr: &str, request: &reqwest::Request) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        request.method(),
        request.url().path(),
        body.len()
    );
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut answer),
    )
    .await;
    sending.abort();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn cases() -> Vec<Case> {
    let field = |n: usize| -> String { (0..n).map(|_| "x ").collect() };
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("predictions {{ image {{ {deep} }} }}");
    }
    let mut too_large = images::jpeg(RED);
    too_large.resize(crate::common::MAX_UPLOAD_BYTES + 1, 0);
    let mut corrupt = images::png(RED);
    corrupt.truncate(corrupt.len() / 2);
    let cases = vec![
        // The request itself.
        post(
            "no content type",
            Body::Raw("", r#"{"query":"{ classes }"}"#.into()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        post(
            "text/plain (CSRF)",
            Body::Raw("text/plain", r#"{"query":"{ classes }"}"#.into()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        post(
            "form-urlencoded (CSRF)",
            Body::Raw(
                "application/x-www-form-urlencoded",
                "query=%7B+classes+%7D".into(),
            ),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        post(
            "application/graphql",
            Body::Raw("application/graphql", "{ classes }".into()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        post(
            "not JSON",
            Body::Raw("application/json", r#"{ "query": "#.into()),
            400,
            "BAD_REQUEST",
        ),
        post(
            "empty body",
            Body::Raw("application/json", String::new()),
            400,
            "BAD_REQUEST",
        ),
        post(
            "JSON over 1 MiB",
            Body::Json(
                json!({ "query": "{ classes }", "extensions": { "pad": "x".repeat(1_100_000) } }),
            ),
            413,
            "REQUEST_TOO_LARGE",
        ),
        post(
            "query is a number",
            Body::Json(json!({ "query": 1 })),
            400,
            "BAD_REQUEST",
        ),
        post(
            "no query",
            Body::Json(json!({ "qeury": "{ classes }" })),
            400,
            "BAD_REQUEST",
        ),
        post(
            "variables is a string",
            Body::Json(json!({ "query": "{ classes }", "variables": "{}" })),
            400,
            "BAD_REQUEST",
        ),
        post(
            "operationName is an object",
            Body::Json(json!({ "query": "{ classes }", "operationName": {} })),
            400,
            "BAD_REQUEST",
        ),
        post(
            "extensions is an array",
            Body::Json(json!({ "query": "{ classes }", "extensions": [] })),
            400,
            "BAD_REQUEST",
        ),
        post("empty batch", Body::Json(json!([])), 400, "BAD_REQUEST"),
        post(
            "batch with a number",
            Body::Json(json!([{ "query": "{ classes }" }, 1])),
            400,
            "BAD_REQUEST",
        ),
        post(
            "batch of 1,000",
            Body::Json(Value::Array(vec![
                json!({ "query": "{ __typename }" });
                1000
            ])),
            400,
            "TOO_MANY_OPERATIONS",
        ),
        post(
            "multipart batch",
            Body::Multipart(
                json!([{ "query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }", "variables": { "f": null } }]),
                vec![("0.variables.f".into(), images::png(RED))],
                true,
            ),
            400,
            "TOO_MANY_OPERATIONS",
        ),
        post(
            "multipart without a preflight header (CSRF)",
            Body::Multipart(
                json!({ "query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }", "variables": { "f": null } }),
                vec![("variables.f".into(), images::png(RED))],
                false,
            ),
            400,
            "CSRF_PREVENTED",
        ),
        post(
            "a file far over the limit",
            Body::Multipart(
                json!({ "query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }", "variables": { "f": null } }),
                vec![(
                    "variables.f".into(),
                    // Past the per-file bound (the limit + 1 MiB), within the body's.
                    vec![0; crate::common::MAX_UPLOAD_BYTES + 1280 * 1024],
                )],
                true,
            ),
            413,
            "FILE_TOO_LARGE",
        ),
        post(
            "200 tiny files",
            Body::Multipart(
                json!({ "query": "mutation($f: [Upload!]!) { uploadImages(files: $f) { id } }", "variables": { "f": (0..200).map(|_| Value::Null).collect::<Vec<_>>() } }),
                (0..200)
                    .map(|i| (format!("variables.f.{i}"), images::png(RED)))
                    .collect(),
                true,
            ),
            400,
            "BATCH_TOO_LARGE",
        ),
        post(
            "a body over the router's limit",
            Body::Raw(
                "multipart/form-data; boundary=x",
                "x".repeat(3 * 1024 * 1024),
            ),
            413,
            "REQUEST_TOO_LARGE",
        ),
        // Documents.
        query(
            "document over 32 KiB",
            format!("{{ classes {} }}", " ".repeat(40 * 1024)),
            "QUERY_TOO_LARGE",
        ),
        query(
            "3,000 tokens",
            format!("{{ {} }}", field(3000)),
            "TOO_MANY_TOKENS",
        ),
        query(
            "16 aliases",
            format!(
                "{{ {} }}",
                (0..16)
                    .map(|i| format!("a{i}: classes "))
                    .collect::<String>()
            ),
            "TOO_MANY_ALIASES",
        ),
        query(
            "51 directives",
            format!(
                "{{ {} }}",
                (0..51)
                    .map(|_| "classes @include(if: true) ")
                    .collect::<String>()
            ),
            "TOO_MANY_DIRECTIVES",
        ),
        query(
            "too deep",
            format!("{{ images {{ edges {{ node {{ {deep} }} }} }} }}"),
            "QUERY_TOO_DEEP",
        ),
        query("syntax error", "{ images { ".into(), "GRAPHQL_PARSE_FAILED"),
        query(
            "unknown field",
            "{ noSuchField }".into(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        query(
            "fragment cycle",
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }".into(),
            "GRAPHQL_PARSE_FAILED",
        ),
        query(
            "conflicting aliases",
            "{ a: classes a: models { name } }".into(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        post(
            "unknown operation name",
            Body::Json(json!({ "query": "query A { classes }", "operationName": "B" })),
            400,
            "BAD_REQUEST",
        ),
        post(
            "wrong variable type",
            Body::Json(
                json!({ "query": "query($n: Int!) { images(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
            ),
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        // GET.
        get(
            "mutation by GET",
            "query=mutation%20%7B%20stopReplay(id%3A%22x%22)%20%7B%20id%20%7D%20%7D",
            405,
            "METHOD_NOT_ALLOWED",
        ),
        get(
            "subscription by GET",
            "query=subscription%20%7B%20statsUpdated%20%7B%20model%20%7D%20%7D",
            405,
            "METHOD_NOT_ALLOWED",
        ),
        get("GET without a query", "", 400, "BAD_REQUEST"),
        get(
            "GET variables not JSON",
            "query=%7B%20classes%20%7D&variables=%7Boops",
            400,
            "BAD_REQUEST",
        ),
        // Credentials and media types.
        Case {
            headers: vec![("authorization", "Bearer vsk_unknown".into())],
            ..post(
                "unknown key",
                Body::Json(json!({ "query": "{ classes }" })),
                401,
                "UNAUTHENTICATED",
            )
        },
        Case {
            headers: vec![("authorization", "Basic dXNlcjpwYXNz".into())],
            ..post(
                "not a bearer",
                Body::Json(json!({ "query": "{ classes }" })),
                401,
                "UNAUTHENTICATED",
            )
        },
        Case {
            accept: "image/png",
            ..post(
                "unacceptable Accept",
                Body::Json(json!({ "query": "{ classes }" })),
                406,
                "NOT_ACCEPTABLE",
            )
        },
        Case {
            method: Method::GET,
            path: "/graphql".into(),
            headers: vec![
                ("connection", "upgrade".into()),
                ("upgrade", "websocket".into()),
                ("sec-websocket-version", "13".into()),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".into()),
                ("sec-websocket-protocol", "chat".into()),
            ],
            ..post(
                "unknown WebSocket subprotocol",
                Body::None,
                400,
                "INVALID_ARGUMENT",
            )
        },
        Case {
            method: Method::GET,
            path: format!("/images/{}/file", uuid::Uuid::new_v4()),
            ..post("file of no image", Body::None, 404, "NOT_FOUND")
        },
        Case {
            method: Method::GET,
            path: "/images/not-a-uuid/file".into(),
            ..post("file of a bad id", Body::None, 400, "INVALID_ID")
        },
        // Uploads (GraphQL errors: 200, the code in the body).
        upload("empty file", Vec::new(), None, "EMPTY_FILE"),
        upload(
            "not an image",
            b"%PDF-1.4 not an image".to_vec(),
            None,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        upload("corrupt PNG", corrupt, None, "CORRUPT_IMAGE"),
        upload("file over the limit", too_large, None, "FILE_TOO_LARGE"),
        upload(
            "unknown label",
            images::png(RED),
            Some("dragon"),
            "INVALID_LABEL",
        ),
        post(
            "bad cursor",
            Body::Json(json!({ "query": "{ images(after: \"nope\") { totalCount } }" })),
            200,
            "BAD_CURSOR",
        ),
        post(
            "bad image id",
            Body::Json(json!({ "query": "{ image(id: \"nope\") { id } }" })),
            200,
            "INVALID_ID",
        ),
    ];
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_with_their_code_and_leave_nothing() {
    let app = TestApp::start().await;
    // A fresh connection for every request: a refused body may leave its connection closed.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (status, text) = match request(&client, &app.base, case).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => (status, text),
                    // The status line arrived, then the connection was reset under the body
                    // (the client was still sending): read the answer off a raw socket.
                    Err(_) => {
                        let request = request(&client, &app.base, case).build().unwrap();
                        raw_exchange(&app.addr(), &request).await
                    }
                }
            }
            // The server answered from the first MiB and closed while the client was still
            // sending: read that answer off a raw socket instead.
            Err(error) if error.is_request() => {
                let request = request(&client, &app.base, case).build().unwrap();
                raw_exchange(&app.addr(), &request).await
            }
            Err(error) => panic!("{}: {error}", case.name),
        };
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| body["error"]["code"].as_str())
            .unwrap_or("");
        if status != case.status || code != case.code {
            failures.push(format!(
                "{}: expected {} {}, got {status} {code}: {}",
                case.name,
                case.status,
                case.code,
                text.chars().take(300).collect::<String>()
            ));
        }
        // A refusal never echoes the caller's document.
        if case.code == "GRAPHQL_PARSE_FAILED" {
            assert!(!text.contains("images {"), "{}: {text}", case.name);
        }
        // Healthy after each.
        assert_eq!(
            app.get("/ready").await.status(),
            200,
            "not ready after {}",
            case.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.assert_nothing_stored().await;
    app.stop().await;
}
