//! Object store on S3 or MinIO (the distributed mode), through the `minio` crate: path-style
//! requests signed with AWS Signature V4, over HTTP/1.1 (rustls for `https://` endpoints).
//!
//! A single PUT is atomic in S3: readers see the previous object, or none, until the whole new
//! one is stored. Every request is bounded by [`S3Store::with_timeout`] (30 s by default), so an
//! unreachable or stalled server yields [`StoreError::Unavailable`] instead of a hang.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use minio::s3::builders::{PutObject, UploadPart};
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error as MinioError, S3ServerError};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::segmented_bytes::SegmentedBytes;
use minio::s3::types::{BucketName, ObjectKey, Region, S3Api, ToStream};
use minio::s3::{MinioClient, MinioClientBuilder};

use super::{ObjectInfo, ObjectStore, StoreError, check_key};

/// Where the objects live and who we are there.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Base URL of the service, `http://host:port` or `https://host[:port]`, without a path.
    pub endpoint: String,
    pub bucket: String,
    /// Signing region (MinIO accepts any; `us-east-1` is its default). Empty means `us-east-1`.
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The object store on one S3/MinIO bucket. Cheap to clone (the HTTP pool is shared).
#[derive(Clone)]
pub struct S3Store {
    client: MinioClient,
    bucket: BucketName,
    endpoint: Arc<str>,
    timeout: Duration,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl S3Store {
    /// A store on `settings.bucket`, without any request: nothing is checked on the server.
    /// Fails only on settings that can never work (endpoint, bucket name, region).
    pub fn new(settings: S3Settings) -> Result<Self, StoreError> {
        let invalid = |what: &str, e: &dyn std::error::Error| {
            StoreError::Unavailable(format!("invalid S3 {what}: {}", error_chain(e)))
        };
        let mut base_url: BaseUrl = settings
            .endpoint
            .parse()
            .map_err(|e| invalid(&format!("endpoint {:?}", settings.endpoint), &e))?;
        if !settings.region.is_empty() {
            // A region in the base URL also spares the GetBucketLocation lookup per bucket.
            base_url.region = Region::new(settings.region.as_str())
                .map_err(|e| invalid(&format!("region {:?}", settings.region), &e))?;
        }
        let bucket = BucketName::new_strict(settings.bucket.as_str())
            .map_err(|e| invalid(&format!("bucket name {:?}", settings.bucket), &e))?;
        let client = MinioClientBuilder::new(base_url)
            .provider(Some(StaticProvider::new(
                &settings.access_key,
                &settings.secret_key,
                None,
            )))
            .app_info(Some((
                "vision".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )))
            .build()
            .map_err(|e| invalid("client", &e))?;
        Ok(Self {
            client,
            bucket,
            endpoint: settings.endpoint.into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// [`S3Store::new`], then creates the bucket if it does not exist (a fresh MinIO works).
    /// Fails with [`StoreError::Unavailable`] when the server cannot be reached or refuses us.
    pub async fn connect(settings: S3Settings) -> Result<Self, StoreError> {
        let store = Self::new(settings)?;
        store.ensure_bucket().await?;
        Ok(store)
    }

    /// Bounds every request (connection, upload, download) to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_str()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the bucket unless it exists. Two processes may race here: the loser's
    /// `BucketAlreadyOwnedByYou` is success.
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self.bucket_exists().await? {
            return Ok(());
        }
        let request = self.client.create_bucket(&self.bucket).map_err(|e| {
            self.unavailable(
                &format!("create bucket {}", self.bucket),
                &MinioError::from(e),
            )
        })?;
        match self
            .bounded("create bucket", request.build().send())
            .await?
        {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, endpoint = %self.endpoint, "created bucket");
                Ok(())
            }
            Err(e) if s3_code(&e) == Some(MinioErrorCode::BucketAlreadyOwnedByYou) => Ok(()),
            Err(e) => Err(self.unavailable(&format!("create bucket {}", self.bucket), &e)),
        }
    }

    async fn bucket_exists(&self) -> Result<bool, StoreError> {
        let what = format!("check bucket {}", self.bucket);
        let request = self
            .client
            .bucket_exists(&self.bucket)
            .map_err(|e| self.unavailable(&what, &MinioError::from(e)))?;
        match self.bounded(&what, request.build().send()).await? {
            Ok(response) => Ok(response.exists()),
            Err(e) => Err(self.unavailable(&what, &e)),
        }
    }

    /// Runs one request within the timeout; the outer error is the timeout.
    async fn bounded<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, MinioError>>,
    ) -> Result<Result<T, MinioError>, StoreError> {
        tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "{what} on {}: no answer within {:?}",
                    self.endpoint, self.timeout
                ))
            })
    }

    fn unavailable(&self, what: &str, e: &MinioError) -> StoreError {
        StoreError::Unavailable(format!("{what} on {}: {}", self.endpoint, describe(e)))
    }
}

/// The S3 error code of a server answer, if it is one.
fn s3_code(e: &MinioError) -> Option<MinioErrorCode> {
    match e {
        MinioError::S3Server(S3ServerError::S3Error(response)) => Some(response.code()),
        _ => None,
    }
}

/// A one-line reason: the S3 code and message of a server answer (codes the crate does not know
/// come lowercased), or the chain of causes of a transport error.
fn describe(e: &MinioError) -> String {
    match e {
        MinioError::S3Server(S3ServerError::S3Error(response)) => {
            let mut reason = response.code().to_string();
            if let Some(message) = response.message().as_deref().filter(|m| !m.is_empty()) {
                reason.push_str(": ");
                reason.push_str(message);
            }
            if !response.resource().is_empty() {
                reason.push_str(&format!(" ({})", response.resource()));
            }
            reason
        }
        // The crate's top-level texts ("Network error occurred") say nothing: start below them.
        other => match std::error::Error::source(other) {
            Some(inner) => error_chain(inner),
            None => other.to_string(),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Wrappers often repeat their cause verbatim: keep each text once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let what = format!("put {key}");
        let object =
            ObjectKey::new(key).map_err(|e| self.unavailable(&what, &MinioError::from(e)))?;
        // One PUT (images are far below the 5 GiB single-request limit): S3 makes it atomic.
        let part = UploadPart::builder()
            .client(self.client.clone())
            .bucket(self.bucket.clone())
            .object(object)
            .data(Arc::new(SegmentedBytes::from(bytes)))
            .content_type((!content_type.is_empty()).then(|| content_type.to_string()))
            .build();
        let request = PutObject::builder().inner(part).build().send();
        match self.bounded(&what, request).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.unavailable(&what, &e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        check_key(key)?;
        let what = format!("get {key}");
        let request = self
            .client
            .get_object(&self.bucket, key)
            .map_err(|e| self.unavailable(&what, &MinioError::from(e)))?;
        // The body is read inside the same bound: a server that stalls mid-object is unavailable.
        let download = async {
            let response = request.build().send().await?;
            // Checks the server's x-amz-checksum-* when it sent one.
            response.content_verified().await
        };
        match self.bounded(&what, download).await? {
            Ok(bytes) => Ok(bytes),
            Err(e) if s3_code(&e) == Some(MinioErrorCode::NoSuchKey) => {
                Err(StoreError::NotFound(key.to_string()))
            }
            Err(e) => Err(self.unavailable(&what, &e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let what = format!("delete {key}");
        let request = self
            .client
            .delete_object(&self.bucket, key)
            .map_err(|e| self.unavailable(&what, &MinioError::from(e)))?;
        match self.bounded(&what, request.build().send()).await? {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatible servers answer NoSuchKey.
            Err(e) if s3_code(&e) == Some(MinioErrorCode::NoSuchKey) => Ok(()),
            Err(e) => Err(self.unavailable(&what, &e)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let what = format!("list {prefix}");
        let max_keys = limit.clamp(1, 1000) as u16;
        let request = self
            .client
            .list_objects(&self.bucket)
            .map_err(|e| self.unavailable(&what, &MinioError::from(e)))?
            .prefix(Some(prefix.to_string()))
            .start_after(after.map(str::to_string))
            .max_keys(Some(max_keys))
            .recursive(true)
            .build();
        // ListObjectsV2: one page, in ascending key order.
        let page = async {
            let mut pages = request.to_stream().await;
            pages.next().await.transpose()
        };
        match self.bounded(&what, page).await? {
            Ok(Some(page)) => Ok(page
                .contents
                .into_iter()
                .take(limit)
                .map(|entry| ObjectInfo {
                    key: entry.name,
                    size: entry.size.unwrap_or(0),
                })
                .collect()),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(self.unavailable(&what, &e)),
        }
    }

    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.bucket_exists().await? {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "bucket {} does not exist on {}",
                self.bucket, self.endpoint
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: endpoint.to_string(),
            bucket: bucket.to_string(),
            region: "us-east-1".to_string(),
            access_key: "ak".to_string(),
            secret_key: "very-secret".to_string(),
        }
    }

    #[test]
    fn settings_are_checked_without_a_server() {
        let store = S3Store::new(settings("http://127.0.0.1:9000", "images")).unwrap();
        assert_eq!(store.kind(), "s3");
        assert_eq!(store.bucket(), "images");
        for (endpoint, bucket) in [
            ("ftp://127.0.0.1:9000", "images"),
            ("http://127.0.0.1:9000/some/path", "images"),
            ("http://127.0.0.1:9000", "Not_A_Bucket"),
            ("http://127.0.0.1:9000", ""),
        ] {
            let err = S3Store::new(settings(endpoint, bucket)).unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        }
    }

    #[test]
    fn the_secret_is_not_printed() {
        let s = settings("http://127.0.0.1:9000", "images");
        assert!(!format!("{s:?}").contains("very-secret"));
        let store = S3Store::new(s).unwrap();
        assert!(!format!("{store:?}").contains("very-secret"));
    }
}
