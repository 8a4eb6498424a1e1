//! Errors the API reports, each with a stable `extensions.code` that clients match on (the
//! message is for people and may change).

use async_graphql::ErrorExtensions;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vision_core::objects::StoreError;
use vision_db::DbError;
use vision_inference::ImageRejection;
use vision_registry::RegistryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    EmptyFile,
    FileTooLarge,
    UnsupportedMediaType,
    ImageTooLarge,
    CorruptImage,
    InvalidLabel,
    InvalidSource,
    BatchTooLarge,
    InvalidId,
    NotFound,
    BadCursor,
    QueryTooDeep,
    QueryTooComplex,
    InvalidArgument,
    DatasetUnavailable,
    /// A model file the runtime cannot run.
    InvalidModel,
    /// A model whose shapes do not fit its kind, its extractor or the classes.
    ShapeMismatch,
    /// A model version label that is taken.
    VersionExists,
    /// A model file over the size limit.
    ModelTooLarge,
    /// A subscriber too slow to follow its events missed some (`cursor` says where to resume).
    SubscriberLagged,
    /// A dependency (database, object store) does not answer; try again later.
    ServiceUnavailable,
    /// A GraphQL-over-HTTP request that is not well-formed (body, parameters).
    BadRequest,
    /// An HTTP method the operation may not use (a mutation by GET).
    MethodNotAllowed,
    /// An `Accept` header that lists nothing the endpoint can answer with.
    NotAcceptable,
    /// A request body over the size limit.
    RequestTooLarge,
    /// No valid credentials while the platform requires them (HTTP 401, WebSocket 4401).
    Unauthenticated,
    /// Valid credentials whose role may not do this (HTTP 403, WebSocket 4403).
    Forbidden,
    /// A multipart request without a header that proves a CORS preflight (CSRF prevention).
    CsrfPrevented,
    /// A document over the size limit (bytes).
    QueryTooLarge,
    /// A document with more lexical tokens than allowed.
    TooManyTokens,
    /// A document with more aliases than allowed.
    TooManyAliases,
    /// A document with more directives than allowed.
    TooManyDirectives,
    /// A batch with more operations than allowed (or uploads in a batch).
    TooManyOperations,
    /// An operation that ran past its time limit.
    Timeout,
    /// Too many operations from one caller or IP; `retryAfter` says when to try again.
    RateLimited,
    /// Too many WebSocket sessions open for one caller (close 4429).
    TooManyConnections,
    /// The pipeline's backlog is full and did not drain in time; `retryAfter` says when to
    /// try again (HTTP 503 with `Retry-After`). Nothing was stored.
    Overloaded,
    /// A maintenance job another process runs at the moment (HTTP 409).
    JobBusy,
    Internal,
}

impl ErrorCode {
    /// The HTTP status of a plain (non-GraphQL) route that answers with this code.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::ServiceUnavailable
            | ErrorCode::DatasetUnavailable
            | ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::FileTooLarge | ErrorCode::ImageTooLarge | ErrorCode::ModelTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorCode::VersionExists | ErrorCode::JobBusy => StatusCode::CONFLICT,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::QueryTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RateLimited | ErrorCode::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::EmptyFile => "EMPTY_FILE",
            ErrorCode::FileTooLarge => "FILE_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::ImageTooLarge => "IMAGE_TOO_LARGE",
            ErrorCode::CorruptImage => "CORRUPT_IMAGE",
            ErrorCode::InvalidLabel => "INVALID_LABEL",
            ErrorCode::InvalidSource => "INVALID_SOURCE",
            ErrorCode::BatchTooLarge => "BATCH_TOO_LARGE",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadCursor => "BAD_CURSOR",
            ErrorCode::QueryTooDeep => "QUERY_TOO_DEEP",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::DatasetUnavailable => "DATASET_UNAVAILABLE",
            ErrorCode::InvalidModel => "INVALID_MODEL",
            ErrorCode::ShapeMismatch => "SHAPE_MISMATCH",
            ErrorCode::VersionExists => "VERSION_EXISTS",
            ErrorCode::ModelTooLarge => "MODEL_TOO_LARGE",
            ErrorCode::SubscriberLagged => "SUBSCRIBER_LAGGED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::NotAcceptable => "NOT_ACCEPTABLE",
            ErrorCode::RequestTooLarge => "REQUEST_TOO_LARGE",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::CsrfPrevented => "CSRF_PREVENTED",
            ErrorCode::QueryTooLarge => "QUERY_TOO_LARGE",
            ErrorCode::TooManyTokens => "TOO_MANY_TOKENS",
            ErrorCode::TooManyAliases => "TOO_MANY_ALIASES",
            ErrorCode::TooManyDirectives => "TOO_MANY_DIRECTIVES",
            ErrorCode::TooManyOperations => "TOO_MANY_OPERATIONS",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::Overloaded => "OVERLOADED",
            ErrorCode::JobBusy => "JOB_BUSY",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// An error on its way to a GraphQL response. Deliberately not `Display`: async-graphql converts
/// any `Display` into a plain error, which would lose the code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Position of the offending file in a batch upload.
    pub index: Option<usize>,
    pub filename: Option<String>,
    /// Where a subscription can resume from (`after`), when it ended early.
    pub cursor: Option<String>,
    /// Seconds to wait before trying again.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            index: None,
            filename: None,
            cursor: None,
            retry_after: None,
        }
    }

    /// A bug or an unexpected failure: logged in full, reported without internals.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(ErrorCode::Internal, format!("internal error: {context}"))
    }

    /// A dependency that does not answer: logged, reported by name.
    fn unavailable(what: &str, error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "{what} unavailable");
        Self::new(
            ErrorCode::ServiceUnavailable,
            format!("the {what} is unavailable; try again later"),
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// As an error raised outside a resolver (an extension refusing a document), with its code.
    pub fn into_server_error(self, pos: Option<async_graphql::Pos>) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message, pos);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code.as_str());
        error.extensions = Some(extensions);
        error
    }

    /// Tells a subscriber where to resume from.
    pub fn resume_from(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Tells the caller when to try again.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Names the file a batch refusal is about.
    pub fn at(mut self, index: usize, filename: &str) -> Self {
        self.index = Some(index);
        self.filename = Some(filename.to_string());
        self
    }
}

impl From<ImageRejection> for ApiError {
    fn from(rejection: ImageRejection) -> Self {
        let code = match rejection {
            ImageRejection::Empty => ErrorCode::EmptyFile,
            ImageRejection::TooLarge { .. } => ErrorCode::FileTooLarge,
            ImageRejection::UnsupportedType => ErrorCode::UnsupportedMediaType,
            ImageRejection::TooManyPixels { .. } => ErrorCode::ImageTooLarge,
            ImageRejection::Corrupt(_) => ErrorCode::CorruptImage,
        };
        debug_assert_eq!(code.as_str(), rejection.code());
        Self::new(code, rejection.to_string())
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::InvalidCursor(reason) => {
                Self::new(ErrorCode::BadCursor, format!("invalid cursor: {reason}"))
            }
            DbError::InvalidInput(reason) => Self::new(ErrorCode::InvalidArgument, reason),
            DbError::NotFound { entity, id } => Self::not_found(format!("{entity} {id}")),
            DbError::Connect { .. } => Self::unavailable("database", error),
            DbError::Database(ref e) if is_connection_error(e) => {
                Self::unavailable("database", error)
            }
            other => Self::internal("database error", other),
        }
    }
}

/// Whether a database error says the database cannot be reached (rather than a bad statement).
fn is_connection_error(error: &vision_db::sea_orm::DbErr) -> bool {
    use vision_db::sea_orm::DbErr;
    matches!(error, DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(key) => Self::not_found(format!("object {key}")),
            StoreError::Unavailable(_) => Self::unavailable("object store", error),
            StoreError::InvalidKey(_) => Self::internal("object store", error),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        let code = match &error {
            RegistryError::InvalidModel(_) => ErrorCode::InvalidModel,
            RegistryError::ShapeMismatch(_) => ErrorCode::ShapeMismatch,
            RegistryError::VersionExists(_) => ErrorCode::VersionExists,
            RegistryError::TooLarge { .. } => ErrorCode::ModelTooLarge,
            RegistryError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            RegistryError::NotFound(_) => ErrorCode::NotFound,
            RegistryError::Store(_) | RegistryError::Db(_) => {
                return match error {
                    RegistryError::Store(e) => e.into(),
                    RegistryError::Db(e) => e.into(),
                    _ => unreachable!("matched above"),
                };
            }
        };
        Self::new(code, error.to_string())
    }
}

/// Reading or spooling a file failed on this machine.
impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> Self {
        Self::internal("file input/output", error)
    }
}

/// A blocking task panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal("background task", error)
    }
}

/// The plain HTTP routes answer errors as `{"error": {"code", "message"}}` with the code's
/// status.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code.as_str(), "message": self.message }
        });
        (self.code.http_status(), Json(body)).into_response()
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, e| {
            e.set("code", self.code.as_str());
            if let Some(index) = self.index {
                e.set("index", index as u64);
            }
            if let Some(filename) = &self.filename {
                e.set("filename", filename.as_str());
            }
            if let Some(cursor) = &self.cursor {
                e.set("cursor", cursor.as_str());
            }
            if let Some(seconds) = self.retry_after {
                e.set("retryAfter", seconds);
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        error.extend()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
