//! Every refusal has a stable `extensions.code` and leaves nothing behind: no row, no object.

use serde_json::json;

use crate::common::{MAX_BATCH, MAX_UPLOAD_BYTES, TestApp, error_code};
use crate::images::{self, RED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_with_their_code_and_leave_nothing() {
    let app = TestApp::start().await;
    let mut too_large = images::jpeg(RED);
    too_large.resize(MAX_UPLOAD_BYTES + 1, 0);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("EMPTY_FILE", "empty.png", Vec::new()),
        ("FILE_TOO_LARGE", "big.jpg", too_large),
        ("UNSUPPORTED_MEDIA_TYPE", "anim.gif", images::gif()),
        (
            "UNSUPPORTED_MEDIA_TYPE",
            "notes.jpg",
            b"just some text, not a photo".to_vec(),
        ),
        ("IMAGE_TOO_LARGE", "bomb.png", images::pixel_bomb_png()),
        ("CORRUPT_IMAGE", "cut.jpg", images::truncated_jpeg()),
        ("CORRUPT_IMAGE", "noise.png", images::corrupt_png()),
    ];
    for (code, name, bytes) in cases {
        let response = app.upload(name, bytes, None).await;
        assert_eq!(error_code(&response), code, "{name}: {response:#}");
        assert_eq!(response["data"], serde_json::Value::Null, "{name}");
        app.assert_nothing_stored().await;
    }
    let response = app
        .upload("red.png", images::png(RED), Some("unicorn"))
        .await;
    assert_eq!(error_code(&response), "INVALID_LABEL");
    let response = app
        .upload_from("red.png", images::png(RED), None, "no spaces allowed")
        .await;
    assert_eq!(error_code(&response), "INVALID_SOURCE");
    app.assert_nothing_stored().await;

    // The refusals are counted by code.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    // Metrics are process-wide and tests run in parallel: at least this test's two refusals.
    let corrupt: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vision_images_rejected_total{code=\"CORRUPT_IMAGE\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no CORRUPT_IMAGE refusal counted: {metrics}"));
    assert!(corrupt >= 2.0, "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_file_refuses_the_whole_batch() {
    let app = TestApp::start().await;
    let response = app
        .upload_batch(
            vec![
                ("good1.png", images::png(RED)),
                ("good2.jpg", images::jpeg(RED)),
                ("bad.png", images::corrupt_png()),
            ],
            None,
        )
        .await;
    assert_eq!(error_code(&response), "CORRUPT_IMAGE", "{response:#}");
    let extensions = &response["errors"][0]["extensions"];
    assert_eq!(extensions["index"], 2);
    assert_eq!(extensions["filename"], "bad.png");
    app.assert_nothing_stored().await;

    let response = app
        .upload_batch(
            vec![("a.png", images::png(RED)), ("b.png", images::png(RED))],
            Some(vec![None, Some("dragon")]),
        )
        .await;
    assert_eq!(error_code(&response), "INVALID_LABEL");
    assert_eq!(response["errors"][0]["extensions"]["index"], 1);
    let response = app
        .upload_batch(
            vec![("a.png", images::png(RED)), ("b.png", images::png(RED))],
            Some(vec![None]),
        )
        .await;
    assert_eq!(error_code(&response), "INVALID_LABEL");

    let files = (0..=MAX_BATCH)
        .map(|_| ("x.png", images::png(RED)))
        .collect();
    let response = app.upload_batch(files, None).await;
    assert_eq!(error_code(&response), "BATCH_TOO_LARGE");
    app.assert_nothing_stored().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_queries_are_refused() {
    let app = TestApp::start().await;
    // Depth: a prediction's image's predictions' image's ... beyond the limit.
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("predictions {{ image {{ {deep} }} }}");
    }
    let response = app
        .graphql(
            &format!("{{ images {{ edges {{ node {{ {deep} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "QUERY_TOO_DEEP", "{response:#}");

    // Aliases: more aliased fields than allowed (hundreds are refused for their tokens).
    let fields: String = (0..20)
        .map(|i| format!("m{i}: models {{ name }} "))
        .collect();
    let response = app.graphql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(error_code(&response), "TOO_MANY_ALIASES", "{response:#}");

    // Complexity: within the alias, token and depth limits, a fragment spread again and again.
    let aliases: String = (0..10)
        .map(|i| format!("a{i}: images {{ edges {{ node {{ ...F ...F ...F }} }} }} "))
        .collect();
    let fragment = "fragment F on Image { id createdAt source label status failureReason \
        contentType sizeBytes width height contentHash objectKey completedAt extractorVersion \
        extractMs predictions { model modelVersion predictedClass confidence inferenceMs correct } }";
    let response = app
        .graphql(&format!("{{ {aliases} }} {fragment}"), json!({}))
        .await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response:#}");

    let response = app.graphql("{ images { ", json!({})).await;
    assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED");
    let response = app.graphql("{ noSuchField }", json!({})).await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_before_parsing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::start().await;
    // Over the body limit (a full batch of the largest files plus 1 MiB). The server answers
    // from the headers alone; a raw socket lets the test read that answer without racing the
    // server closing the connection under a client still sending.
    let length = MAX_UPLOAD_BYTES * MAX_BATCH + 2 * 1024 * 1024;
    let mut socket = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: {length}\r\n\r\n",
        app.addr()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 64];
    let n = socket.read(&mut response).await.unwrap();
    let status_line = String::from_utf8_lossy(&response[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    app.assert_nothing_stored().await;
    app.stop().await;
}
