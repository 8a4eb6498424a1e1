//! A whole platform per test: temporary data folder, SQLite, the tiny test model bundle, a
//! random port; and helpers to speak GraphQL to it over HTTP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use vision_api::{Config, Platform};
use vision_db::{NewComparison, NewPrediction, TopK};
use vision_testkit::bundle as testkit;

/// Limits small enough that tests can exceed them cheaply.
pub const MAX_UPLOAD_BYTES: usize = 256 * 1024;
pub const MAX_PIXELS: u64 = 1_000_000;
pub const MAX_BATCH: usize = 4;

pub struct TestApp {
    platform: Option<Platform>,
    pub base: String,
    pub dir: TempDir,
    pub client: reqwest::Client,
}

/// A data folder with the test model bundle in `models/`.
pub fn prepared_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    testkit::write_bundle(&dir.path().join("models"), 32).expect("test bundle");
    dir
}

pub fn config_for(dir: &Path) -> Config {
    let mut config = Config::for_data_dir(dir.join("data"), dir.join("models"));
    config.max_upload_bytes = MAX_UPLOAD_BYTES;
    config.max_pixels = MAX_PIXELS;
    config.max_batch = MAX_BATCH;
    config.threads = 2;
    // Only there once a test writes it (see `write_cifar10`).
    config.cifar10_dir = Some(dir.join("cifar10"));
    config
}

/// A tiny CIFAR-10 test split in `<dir>/cifar10/test/<class>/`: `per_class` solid images per
/// entry of `classes` (colour, class folder). The test models answer by colour, so every
/// figure of a replay of it is known in advance.
pub fn write_cifar10(dir: &Path, classes: &[([u8; 3], &str)], per_class: usize) {
    for (colour, class) in classes {
        let folder = dir.join("cifar10").join("test").join(class);
        std::fs::create_dir_all(&folder).expect("class folder");
        for i in 0..per_class {
            std::fs::write(
                folder.join(format!("{class}_{i}.png")),
                crate::images::png(*colour),
            )
            .expect("sample");
        }
    }
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_in(prepared_dir()).await
    }

    /// Starts on an existing folder (made by [`prepared_dir`]), as after a restart.
    pub async fn start_in(dir: TempDir) -> Self {
        let config = config_for(dir.path());
        Self::start_with(dir, config).await
    }

    /// Starts on an existing folder with settings of the test's own (from [`config_for`]).
    pub async fn start_with(dir: TempDir, config: Config) -> Self {
        let platform = Platform::start(&config).await.expect("platform starts");
        Self::serving(dir, platform)
    }

    /// The gateway alone over `bus` (no stages): for tests of what the gateway does with it.
    pub async fn start_gateway(
        dir: TempDir,
        config: Config,
        bus: std::sync::Arc<dyn vision_core::MessageBus>,
    ) -> Self {
        let platform = Platform::start_gateway(&config, bus)
            .await
            .expect("gateway starts");
        Self::serving(dir, platform)
    }

    fn serving(dir: TempDir, platform: Platform) -> Self {
        let base = format!("http://{}", platform.addr);
        Self {
            platform: Some(platform),
            base,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub fn platform(&self) -> &Platform {
        self.platform.as_ref().expect("running")
    }

    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// Stops the platform and hands back its folder.
    pub async fn stop(mut self) -> TempDir {
        if let Some(platform) = self.platform.take() {
            platform.stop().await.expect("clean stop");
        }
        self.dir
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// A JSON GraphQL request; returns the whole response (`data` and `errors`).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("JSON response")
    }

    /// `data` of a request that must succeed.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(response.get("errors").is_none(), "errors: {response:#}");
        response["data"].clone()
    }

    /// A GraphQL multipart request: `files` are (variable path, file name, bytes), e.g.
    /// `("variables.file", "cat.png", bytes)`.
    pub async fn multipart(
        &self,
        query: &str,
        variables: Value,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> Value {
        let operations = json!({ "query": query, "variables": variables });
        let map: serde_json::Map<String, Value> = files
            .iter()
            .enumerate()
            .map(|(i, (path, _, _))| (i.to_string(), json!([path])))
            .collect();
        let mut form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", Value::Object(map).to_string());
        for (i, (_, name, bytes)) in files.into_iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(name)
                .mime_str("application/octet-stream")
                .expect("mime");
            form = form.part(i.to_string(), part);
        }
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("apollo-require-preflight", "true")
            .multipart(form)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("JSON response")
    }

    /// `uploadImage`; returns the whole response.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>, label: Option<&str>) -> Value {
        self.upload_from(name, bytes, label, "upload").await
    }

    pub async fn upload_from(
        &self,
        name: &str,
        bytes: Vec<u8>,
        label: Option<&str>,
        source: &str,
    ) -> Value {
        self.multipart(
            "mutation ($file: Upload!, $label: String, $source: String!) {
                uploadImage(file: $file, label: $label, source: $source) {
                    id status label source contentType width height sizeBytes contentHash objectKey
                }
            }",
            json!({ "file": null, "label": label, "source": source }),
            vec![("variables.file".into(), name.into(), bytes)],
        )
        .await
    }

    /// Uploads one image that must be accepted; returns its id.
    pub async fn upload_ok(&self, name: &str, bytes: Vec<u8>, label: Option<&str>) -> String {
        let response = self.upload(name, bytes, label).await;
        assert!(response.get("errors").is_none(), "errors: {response:#}");
        response["data"]["uploadImage"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// `uploadImages` with one label (or null) per file; returns the whole response.
    pub async fn upload_batch(
        &self,
        files: Vec<(&str, Vec<u8>)>,
        labels: Option<Vec<Option<&str>>>,
    ) -> Value {
        let nulls: Vec<Value> = files.iter().map(|_| Value::Null).collect();
        let parts = files
            .into_iter()
            .enumerate()
            .map(|(i, (name, bytes))| (format!("variables.files.{i}"), name.to_string(), bytes))
            .collect();
        self.multipart(
            "mutation ($files: [Upload!]!, $labels: [String]) {
                uploadImages(files: $files, labels: $labels) { id status label }
            }",
            json!({ "files": nulls, "labels": labels }),
            parts,
        )
        .await
    }

    /// Polls `image(id)` until it is COMPLETED (or FAILED); returns it with its predictions.
    pub async fn wait_done(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let data = self
                .query(
                    &format!("query ($id: ID!) {{ image(id: $id) {{ {IMAGE_FIELDS} }} }}"),
                    json!({ "id": id }),
                )
                .await;
            let image = data["image"].clone();
            if image["status"] == "COMPLETED" || image["status"] == "FAILED" {
                return image;
            }
            assert!(
                Instant::now() < deadline,
                "image {id} never completed: {image:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every image file in the object store (`raw-images/`; the registry keeps its models'
    /// files beside them, under `models/`).
    pub fn object_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![
            self.dir
                .path()
                .join("data")
                .join("objects")
                .join("raw-images"),
        ];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files
    }

    /// Image rows in the database.
    pub async fn image_rows(&self) -> u64 {
        self.platform()
            .state
            .db
            .count_images(&Default::default())
            .await
            .expect("count")
    }

    /// Asserts that nothing was written: no row, no object.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.image_rows().await, 0, "an image row was left behind");
        assert_eq!(
            self.object_files(),
            Vec::<PathBuf>::new(),
            "an object was left behind"
        );
    }
}

/// Everything an `Image` shows, with its predictions and comparison.
pub const IMAGE_FIELDS: &str = "
    id status label source failureReason completedAt extractorVersion extractMs
    predictions {
        id imageId model modelVersion predictedClass confidence inferenceMs correct createdAt
        topK { class probability }
    }
    comparison { fastestModel mostConfidentModel consensusClass agreement }
";

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response:#}"))
        .to_string()
}

/// A prediction of the head `fast` for `image_id`, as the recorder writes one (for tests that
/// write rows straight through the repository).
pub fn fast_prediction(image_id: uuid::Uuid) -> NewPrediction {
    NewPrediction {
        image_id,
        model: "fast".to_owned(),
        model_version: "fast-test-v1".to_owned(),
        predicted_class: "cat".to_owned(),
        class_index: 3,
        confidence: 0.9,
        top_k: vec![TopK {
            class: "cat".to_owned(),
            probability: 0.9,
        }],
        inference_ms: 1.0,
        correct: None,
        shadow: false,
    }
}

/// A comparison naming `fast` the fastest and the most confident, consensus `cat`.
pub fn fast_comparison() -> NewComparison {
    NewComparison {
        fastest_model: "fast".to_owned(),
        fastest_model_version: "fast-test-v1".to_owned(),
        most_confident_model: "fast".to_owned(),
        most_confident_model_version: "fast-test-v1".to_owned(),
        consensus_class: Some("cat".to_owned()),
        agreement: 1.0,
    }
}
