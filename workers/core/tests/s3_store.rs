//! The S3 object store against a real S3 server: `moto_server` (see `vision_testkit::moto`).
//! Each test starts its own server on a free loopback port and kills it when it ends, passed or
//! failed. What the store did is checked with plain HTTP requests to the server, not through
//! the crate under test.

use std::time::{Duration, Instant};

use bytes::Bytes;
use vision_core::ObjectStore;
use vision_core::objects::{S3Settings, S3Store, StoreError};
use vision_testkit::{Moto, free_port, http};

/// Settings of a store on `moto` (it accepts any access key).
fn settings(moto: &Moto, bucket: &str) -> S3Settings {
    S3Settings {
        endpoint: moto.endpoint(),
        bucket: bucket.to_string(),
        region: "us-east-1".to_string(),
        access_key: "vision-test".to_string(),
        secret_key: "vision-test-secret".to_string(),
    }
}

/// An `Authorization` header that routes a request to `service` in moto. Its signature is never
/// checked: moto verifies signatures only when told to (see `a_wrong_secret_is_refused`), and it
/// refuses anonymous object reads.
fn routing_auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// A plain S3 request, for checking what the store did without the crate under test.
async fn s3_http(port: u16, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let auth = routing_auth("s3");
    http(port, method, path, &[("Authorization", &auth)], b"")
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn image_bytes(seed: u8, len: usize) -> Bytes {
    // Every byte value, NULs and invalid UTF-8 included.
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_put_get_delete_and_errors() {
    let moto = Moto::start().await;
    let bucket = "vision-images";

    // A fresh server: connecting creates the bucket, and connecting again is fine.
    let (status, _, _) = s3_http(moto.port(), "HEAD", &format!("/{bucket}")).await;
    assert_eq!(status, 404, "the bucket does not exist yet");
    let store = S3Store::connect(settings(&moto, bucket)).await.unwrap();
    let (status, _, _) = s3_http(moto.port(), "HEAD", &format!("/{bucket}")).await;
    assert_eq!(status, 200, "connect created the bucket");
    let again = S3Store::connect(settings(&moto, bucket)).await.unwrap();
    assert_eq!(store.kind(), "s3");
    assert_eq!(store.bucket(), bucket);
    store.ping().await.unwrap();

    // Binary round trip, with its content type stored on the object.
    let key = "raw-images/2026/03/07/00000000-0000-0000-0000-000000000001.png";
    let bytes = image_bytes(7, 300_000);
    store.put(key, bytes.clone(), "image/png").await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), bytes);
    assert_eq!(
        again.get(key).await.unwrap(),
        bytes,
        "another client sees it"
    );
    let (status, head, body) = s3_http(moto.port(), "GET", &format!("/{bucket}/{key}")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("image/png"), "{head}");
    assert_eq!(body, bytes, "the server holds exactly the bytes");

    // Overwriting replaces the whole object; empty objects are objects.
    let jpeg = image_bytes(1, 1000);
    store.put(key, jpeg.clone(), "image/jpeg").await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), jpeg);
    let (_, head, _) = s3_http(moto.port(), "HEAD", &format!("/{bucket}/{key}")).await;
    assert_eq!(header(&head, "content-type"), Some("image/jpeg"), "{head}");
    let empty = "raw-images/empty.bin";
    store
        .put(empty, Bytes::new(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(store.get(empty).await.unwrap(), Bytes::new());

    // Missing objects.
    let missing = "raw-images/2026/03/07/missing.jpg";
    match store.get(missing).await {
        Err(StoreError::NotFound(k)) => assert_eq!(k, missing),
        other => panic!("get of a missing key: {other:?}"),
    }
    store.delete(missing).await.expect("deleting a missing key");

    // Delete, then the object is gone, and deleting again is fine.
    store.delete(key).await.unwrap();
    assert!(matches!(store.get(key).await, Err(StoreError::NotFound(_))));
    let (status, _, _) = s3_http(moto.port(), "HEAD", &format!("/{bucket}/{key}")).await;
    assert_eq!(status, 404, "deleted on the server");
    store.delete(key).await.unwrap();

    // Keys that could escape the store are refused before any request.
    for bad in [
        "",
        "/etc/passwd",
        "a/../b",
        "a//b",
        "a/./b",
        "a b",
        "a?b",
        "a/%2e%2e/b",
    ] {
        assert!(
            matches!(
                store.put(bad, Bytes::from_static(b"x"), "image/png").await,
                Err(StoreError::InvalidKey(_))
            ),
            "put {bad:?}"
        );
        assert!(
            matches!(store.get(bad).await, Err(StoreError::InvalidKey(_))),
            "get {bad:?}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(StoreError::InvalidKey(_))),
            "delete {bad:?}"
        );
    }

    // A store whose bucket vanished is not healthy.
    let other = S3Store::new(settings(&moto, "vision-never-created")).unwrap();
    match other.ping().await {
        Err(StoreError::Unavailable(reason)) => {
            assert!(reason.contains("vision-never-created"), "{reason}")
        }
        other => panic!("ping of a missing bucket: {other:?}"),
    }
}

/// Lists in pages, in key order, with a prefix; the data-quality job walks the store so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_keys_in_order_by_pages() {
    let moto = Moto::start().await;
    let store = S3Store::connect(settings(&moto, "vision-list"))
        .await
        .unwrap();
    let mut keys: Vec<String> = (0..7)
        .map(|i| format!("raw-images/2026/0{}/01/object-{i}.png", 1 + i % 3))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        store
            .put(key, image_bytes(i as u8, 100 + i), "image/png")
            .await
            .unwrap();
    }
    store
        .put(
            "models/x/1.onnx",
            image_bytes(9, 10),
            "application/octet-stream",
        )
        .await
        .unwrap();
    keys.sort();
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list("raw-images/", after.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        listed.extend(page);
    }
    assert_eq!(
        listed.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        keys
    );
    let sizes: Vec<u64> = listed.iter().map(|o| o.size).collect();
    assert!(sizes.iter().all(|s| (100..107).contains(s)), "{sizes:?}");
    assert_eq!(store.list("models/", None, 10).await.unwrap().len(), 1);
    assert!(store.list("nothing/", None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_puts_then_gets() {
    let moto = Moto::start().await;
    let store = S3Store::connect(settings(&moto, "vision-parallel"))
        .await
        .unwrap();
    let key = |i: usize| format!("raw-images/2026/01/02/object-{i:02}.jpg");
    let puts = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put(
                    &key(i),
                    image_bytes(i as u8, 10_000 + i * 997),
                    "image/jpeg",
                )
                .await
        })
    });
    for put in futures::future::join_all(puts).await {
        put.unwrap().unwrap();
    }
    let gets = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { (i, store.get(&key(i)).await) })
    });
    for get in futures::future::join_all(gets).await {
        let (i, bytes) = get.unwrap();
        assert_eq!(
            bytes.unwrap(),
            image_bytes(i as u8, 10_000 + i * 997),
            "object {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_unavailable_quickly() {
    let port = free_port(); // bound, then released: nothing listens there
    let settings = S3Settings {
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: "vision-images".to_string(),
        region: "us-east-1".to_string(),
        access_key: "a".to_string(),
        secret_key: "b".to_string(),
    };
    let started = Instant::now();
    let bound = Duration::from_secs(15);

    match tokio::time::timeout(bound, S3Store::connect(settings.clone())).await {
        Ok(Err(StoreError::Unavailable(reason))) => {
            assert!(reason.contains(&port.to_string()), "{reason}");
            eprintln!("connect: {reason}");
        }
        Ok(other) => panic!("connect to a closed port: {other:?}"),
        Err(_) => panic!("connect to a closed port hung for {bound:?}"),
    }
    let store = S3Store::new(settings).unwrap();
    match tokio::time::timeout(bound, store.ping()).await {
        Ok(Err(StoreError::Unavailable(reason))) => eprintln!("ping: {reason}"),
        other => panic!("ping of a closed port: {other:?}"),
    }
    let key = "raw-images/2026/01/02/a.png";
    match tokio::time::timeout(bound, store.put(key, Bytes::from_static(b"x"), "image/png")).await {
        Ok(Err(StoreError::Unavailable(_))) => {}
        other => panic!("put to a closed port: {other:?}"),
    }
    match tokio::time::timeout(bound, store.get(key)).await {
        Ok(Err(StoreError::Unavailable(_))) => {}
        other => panic!("get from a closed port: {other:?}"),
    }
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());

    // A server that accepts and never answers: the store's own timeout ends the request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let store = S3Store::new(S3Settings {
        endpoint: format!("http://127.0.0.1:{silent}"),
        bucket: "vision-images".to_string(),
        region: "us-east-1".to_string(),
        access_key: "a".to_string(),
        secret_key: "b".to_string(),
    })
    .unwrap()
    .with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    match tokio::time::timeout(bound, store.put(key, Bytes::from_static(b"x"), "image/png")).await {
        Ok(Err(StoreError::Unavailable(reason))) => {
            assert!(reason.contains("no answer"), "{reason}")
        }
        other => panic!("put to a silent server: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

/// moto checks signatures only when told to: after `/moto-api/reset-auth` with 3, it serves 3
/// more actions unauthenticated (they create an IAM user with an access key allowed to use S3),
/// then verifies every request's signature: the store works with that key and is refused with a
/// wrong secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused() {
    let moto = Moto::start().await;
    let (status, _, answer) = http(moto.port(), "POST", "/moto-api/reset-auth", &[], b"3")
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let iam = |body: &'static str| {
        let port = moto.port();
        async move {
            let (status, _, answer) = http(
                port,
                "POST",
                "/",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    // Not checked while unauthenticated actions remain.
                    ("Authorization", &routing_auth("iam")),
                ],
                body.as_bytes(),
            )
            .await
            .unwrap();
            let answer = String::from_utf8(answer).unwrap();
            assert_eq!(status, 200, "{body}: {answer}");
            answer
        }
    };
    iam("Action=CreateUser&UserName=vision&Version=2010-05-08").await;
    let created = iam("Action=CreateAccessKey&UserName=vision&Version=2010-05-08").await;
    iam(
        "Action=PutUserPolicy&UserName=vision&PolicyName=s3&Version=2010-05-08&PolicyDocument=\
         %7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow\
         %22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D",
    )
    .await;
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = created.find(&open).expect(name) + open.len();
        let end = created[start..].find("</").unwrap() + start;
        created[start..end].to_string()
    };
    let mut settings = settings(&moto, "vision-auth");
    settings.access_key = element("AccessKeyId");
    settings.secret_key = element("SecretAccessKey");

    let store = S3Store::connect(settings.clone())
        .await
        .expect("the right key is accepted");
    let key = "raw-images/2026/01/02/a.png";
    store
        .put(key, Bytes::from_static(b"signed"), "image/png")
        .await
        .unwrap();
    assert_eq!(store.get(key).await.unwrap(), Bytes::from_static(b"signed"));

    let mut wrong = settings.clone();
    wrong.secret_key.push('x');
    // A HEAD answer has no body: the refusal of connect's bucket check is a bare 403.
    match S3Store::connect(wrong.clone()).await {
        Err(StoreError::Unavailable(reason)) => {
            assert!(reason.contains("AccessDenied"), "{reason}");
            eprintln!("connect with a wrong secret: {reason}");
        }
        other => panic!("connect with a wrong secret: {other:?}"),
    }
    let refused = S3Store::new(wrong).unwrap();
    match refused
        .put(key, Bytes::from_static(b"forged"), "image/png")
        .await
    {
        Err(StoreError::Unavailable(reason)) => {
            // The crate lowercases the S3 codes it does not know.
            assert!(
                reason.to_lowercase().contains("signaturedoesnotmatch"),
                "{reason}"
            );
            eprintln!("put with a wrong secret: {reason}");
        }
        other => panic!("put with a wrong secret: {other:?}"),
    }
    match refused.get(key).await {
        Err(StoreError::Unavailable(reason)) => {
            // The crate lowercases the S3 codes it does not know.
            assert!(
                reason.to_lowercase().contains("signaturedoesnotmatch"),
                "{reason}"
            )
        }
        other => panic!("get with a wrong secret: {other:?}"),
    }
    assert!(matches!(
        refused.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        store.get(key).await.unwrap(),
        Bytes::from_static(b"signed"),
        "the forged put changed nothing"
    );
}
