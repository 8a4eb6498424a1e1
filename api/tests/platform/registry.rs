//! The model registry over GraphQL and the CLI (F20): the shipped bundle as version 1 of each
//! model, registration with its checks and refusals (no row, no file left), promotion, rollback,
//! archiving and the alias history (`productionAt`).

use serde_json::{Value, json};
use vision_testkit::bundle::{CIFAR10_CLASSES, HeadSpec, extractor_onnx, head_onnx};

use crate::common::{TestApp, error_code};

const REGISTER: &str = "mutation($file: Upload!, $name: String!, $kind: ModelKind!, \
    $label: String) { registerModelVersion(file: $file, name: $name, kind: $kind, \
    label: $label) { name version label kind sha256 sizeBytes artifactKey inputShape \
    outputShape descriptorDim classes extractorLabel registeredBy aliases } }";

async fn register(app: &TestApp, name: &str, bytes: Vec<u8>, label: Option<&str>) -> Value {
    app.multipart(
        REGISTER,
        json!({ "file": null, "name": name, "kind": "CLASSIFIER", "label": label }),
        vec![("variables.file".into(), format!("{name}.onnx"), bytes)],
    )
    .await
}

/// A head over the ten classes that calls red a cat (the shipped test heads say airplane).
fn other_head() -> Vec<u8> {
    let weights =
        HeadSpec::colours("fast", "x", &CIFAR10_CLASSES, ["cat", "dog", "ship"], 5.0).weights;
    head_onnx(&weights)
}

/// Files the registry stored, relative to the object store.
fn model_files(app: &TestApp) -> Vec<String> {
    let root = app.dir.path().join("data").join("objects");
    let mut out: Vec<String> = walk(&root.join("models"))
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn versions(app: &TestApp) -> Vec<(String, i64, Vec<String>)> {
    let data = app
        .query(
            "{ registeredModels { name versions { version aliases } } }",
            json!({}),
        )
        .await;
    data["registeredModels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["versions"].as_array().unwrap().iter().map(|v| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    v["version"].as_i64().unwrap(),
                    v["aliases"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect(),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_is_version_one_and_new_versions_are_checked_before_storing() {
    let app = TestApp::start().await;
    let production = vec!["production".to_string()];
    assert_eq!(
        versions(&app).await,
        [
            ("accurate".to_string(), 1, production.clone()),
            ("balanced".to_string(), 1, production.clone()),
            ("extractor".to_string(), 1, production.clone()),
            ("fast".to_string(), 1, production.clone()),
        ]
    );
    assert_eq!(
        model_files(&app),
        [
            "models/accurate/1.onnx",
            "models/balanced/1.onnx",
            "models/extractor/1.onnx",
            "models/fast/1.onnx"
        ]
    );

    let response = register(&app, "fast", other_head(), None).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let v2 = &response["data"]["registerModelVersion"];
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["label"], "fast-v2");
    assert_eq!(v2["kind"], "CLASSIFIER");
    assert_eq!(v2["inputShape"], json!([null, 3]));
    assert_eq!(v2["outputShape"], json!([null, 10]));
    assert_eq!(v2["classes"].as_array().unwrap().len(), 10);
    assert_eq!(v2["extractorLabel"], "extractor-test-v1");
    assert_eq!(v2["artifactKey"], "models/fast/2.onnx");
    assert_eq!(v2["aliases"], json!([]));
    assert_eq!(v2["sha256"].as_str().unwrap().len(), 64);

    // Every refusal has its code and leaves no row and no file.
    let before = (versions(&app).await.len(), model_files(&app));
    for (bytes, label, code) in [
        (b"not a model".to_vec(), None, "INVALID_MODEL"),
        (head_onnx(&[[1.0, 0.0, 0.0]; 4]), None, "SHAPE_MISMATCH"),
        (extractor_onnx(16), None, "SHAPE_MISMATCH"),
        (other_head(), Some("fast-test-v1"), "VERSION_EXISTS"),
        (other_head(), Some("no spaces allowed"), "INVALID_ARGUMENT"),
    ] {
        let refused = register(&app, "fast", bytes, label).await;
        assert_eq!(error_code(&refused), code, "{refused:#}");
    }
    assert_eq!((versions(&app).await.len(), model_files(&app)), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_rollback_and_archive_keep_a_history() {
    let app = TestApp::start().await;
    let response = register(&app, "fast", other_head(), Some("fast-cats")).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let promoted = app
        .query(
            "mutation { promoteModelVersion(name: \"fast\", version: 2, reason: \"better\") \
             { name alias previousVersion version changed } }",
            json!({}),
        )
        .await["promoteModelVersion"]
        .clone();
    assert_eq!(
        promoted,
        json!({ "name": "fast", "alias": "production", "previousVersion": 1, "version": 2,
                "changed": true })
    );
    let after = chrono::Utc::now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    let served = app
        .query(
            "query($before: DateTime!, $after: DateTime!) { \
               then: productionAt(model: \"fast\", at: $before) { version label } \
               now: productionAt(model: \"fast\", at: $after) { version label } \
               never: productionAt(model: \"nothing\", at: $after) { version } }",
            json!({ "before": at(before), "after": at(after) }),
        )
        .await;
    assert_eq!(
        served["then"],
        json!({ "version": 1, "label": "fast-test-v1" })
    );
    assert_eq!(served["now"], json!({ "version": 2, "label": "fast-cats" }));
    assert_eq!(served["never"], Value::Null);

    let refused = app
        .graphql(
            "mutation { archiveModelVersion(name: \"fast\", version: 2) { changed } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), "INVALID_ARGUMENT");
    let rolled = app
        .query(
            "mutation { rollbackModel(name: \"fast\", reason: \"worse\") { version } }",
            json!({}),
        )
        .await;
    assert_eq!(rolled["rollbackModel"]["version"], 1);
    let archived = app
        .query(
            "mutation { archiveModelVersion(name: \"fast\", version: 2) { alias version } }",
            json!({}),
        )
        .await;
    assert_eq!(
        archived["archiveModelVersion"],
        json!({ "alias": "archived", "version": 2 })
    );
    let model = app
        .query(
            "{ registeredModel(name: \"fast\") { production { version } \
               history { alias version previousVersion changedBy reason } } }",
            json!({}),
        )
        .await["registeredModel"]
        .clone();
    assert_eq!(model["production"]["version"], 1);
    let moves: Vec<(String, Value, Value)> = model["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["alias"].as_str().unwrap().to_string(),
                h["previousVersion"].clone(),
                h["version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("archived".to_string(), json!(null), json!(2)),
            ("production".to_string(), json!(2), json!(1)),
            ("production".to_string(), json!(1), json!(2)),
            ("production".to_string(), json!(null), json!(1)),
        ]
    );
    let unknown = app
        .graphql(
            "mutation { promoteModelVersion(name: \"fast\", version: 7) { changed } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_registers_promotes_and_rolls_back() {
    let app = TestApp::start().await;
    let files = tempfile::tempdir().unwrap();
    let model = files.path().join("fast-cats.onnx");
    std::fs::write(&model, other_head()).unwrap();
    let vision = |args: Vec<&str>| {
        let base = app.base.clone();
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
                .args(&args)
                .args(["--url", &base])
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout).to_string();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            (output.status.success(), stdout, stderr)
        }
    };
    let (ok, out, err) = vision(vec![
        "models",
        "register",
        model.to_str().unwrap(),
        "--name",
        "fast",
        "--label",
        "fast-cats",
    ])
    .await;
    assert!(
        ok && out.contains("registered fast version 2 (fast-cats)"),
        "{out}{err}"
    );
    let (ok, out, err) = vision(vec!["models", "promote", "fast", "2"]).await;
    assert!(
        ok && out.contains("fast production: version 1 -> 2"),
        "{out}{err}"
    );
    let (ok, out, _) = vision(vec!["models", "list"]).await;
    assert!(ok, "{out}");
    let fast: Vec<&str> = out.lines().filter(|l| l.starts_with("fast ")).collect();
    assert_eq!(fast.len(), 2, "{out}");
    assert!(
        fast[1].contains("fast-cats") && fast[1].contains("production"),
        "{out}"
    );
    let (ok, out, err) = vision(vec!["models", "rollback", "fast"]).await;
    assert!(
        ok && out.contains("fast production: version 2 -> 1"),
        "{out}{err}"
    );
    let (ok, _, err) = vision(vec!["models", "promote", "fast", "9"]).await;
    assert!(!ok && err.contains("NOT_FOUND"), "{err}");
    let broken = files.path().join("broken.onnx");
    std::fs::write(&broken, b"nope").unwrap();
    let (ok, _, err) = vision(vec![
        "models",
        "register",
        broken.to_str().unwrap(),
        "--name",
        "fast",
    ])
    .await;
    assert!(!ok && err.contains("INVALID_MODEL"), "{err}");
    app.stop().await;
}
