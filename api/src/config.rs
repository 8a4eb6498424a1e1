//! Settings shared by every subcommand, from flags or the environment (flags win).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use vision_extractor::BatchSettings;
use vision_inference::{ImageLimits, Parallelism, RuntimeKind};

const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "VISION_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub addr: SocketAddr,

    /// Folder of the embedded defaults: `vision.db` (SQLite) and `objects/`.
    #[arg(long, env = "VISION_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL (for example `postgres://user:pass@host/db`); SQLite in the data folder when unset.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Kafka brokers (`host:port,...`) of the distributed mode: the bus of `vision api` and
    /// `vision worker ...` (`vision serve` always uses its in-process bus).
    #[arg(long, env = "KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,

    /// Partitions of the topics a process creates when they are missing (replicas of one stage
    /// beyond this number stay idle).
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = 3, global = true)]
    pub kafka_partitions: i32,

    /// A stable name of this replica (a StatefulSet pod name, a compose service index): with it,
    /// a restarted worker takes its Kafka partitions back at once (static group membership).
    #[arg(long, env = "VISION_INSTANCE_ID", global = true)]
    pub instance_id: Option<String>,

    /// How long (ms) a worker may go without a heartbeat before its Kafka consumer group gives
    /// its partitions to the others. Kafka's default; lower it for faster failover of replicas
    /// that do not come back, keeping it well above the broker outages to be ridden out.
    #[arg(
        long,
        env = "KAFKA_SESSION_TIMEOUT_MS",
        default_value_t = default_session_timeout_ms(),
        global = true
    )]
    pub kafka_session_timeout_ms: u64,

    /// Redis (`redis://host:port`) for the descriptor cache shared by extractor replicas; an
    /// in-process cache when unset.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// S3 or MinIO endpoint (`http://host:9000`) of the object store; the local folder below
    /// when unset.
    #[arg(long, env = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// Bucket of the images (created when missing).
    #[arg(long, env = "S3_BUCKET", default_value = "vision", global = true)]
    pub s3_bucket: String,

    #[arg(long, env = "S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,

    #[arg(long, env = "S3_ACCESS_KEY", default_value = "", global = true)]
    pub s3_access_key: String,

    #[arg(
        long,
        env = "S3_SECRET_KEY",
        default_value = "",
        global = true,
        hide_env_values = true
    )]
    pub s3_secret_key: String,

    /// Folder of the object store; `<data-dir>/objects` when unset.
    #[arg(long, env = "VISION_OBJECTS_DIR", global = true)]
    pub objects_dir: Option<PathBuf>,

    /// Folder holding `manifest.json` and the ONNX models it lists.
    #[arg(
        long,
        env = "VISION_MODELS_DIR",
        default_value = "./models",
        global = true
    )]
    pub models_dir: PathBuf,

    /// Folder of the CIFAR-10 splits for replays (`train.tar.gz`/`test.tar.gz`, `train/`/`test/`
    /// class folders, or the official `cifar-10-binary.tar.gz`); by default `./data/cifar10`,
    /// else `../shared/data/cifar10`, whichever exists.
    #[arg(long, env = "VISION_CIFAR10_DIR", global = true)]
    pub cifar10_dir: Option<PathBuf>,

    /// Folder of the built dashboard (`npm run build` in `frontend/`), served at `/`; by default
    /// `./frontend/dist` when it exists. Without one, `/` says how to build it.
    #[arg(long, env = "VISION_FRONTEND_DIR", global = true)]
    pub frontend_dir: Option<PathBuf>,

    /// Inference runtime: `auto` (ONNX Runtime when its library loads, else tract, with a
    /// warning), `ort` (ONNX Runtime or fail) or `tract` (pure Rust, several times slower).
    #[arg(
        long = "runtime",
        env = "VISION_RUNTIME",
        default_value = "auto",
        global = true
    )]
    pub runtime_choice: RuntimeChoice,

    /// Serve with no API key on a non-loopback address (every caller an admin). Without it,
    /// such a server refuses to start until a key exists (`vision keys create`).
    #[arg(
        long,
        env = "VISION_ALLOW_OPEN",
        default_value_t = false,
        global = true
    )]
    pub allow_open: bool,

    /// HS256 secret of JWT bearer tokens (at least 32 bytes); with it, keys are required.
    #[arg(long, env = "VISION_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key (RSA: RS256, EC P-256: ES256) of JWT bearer tokens.
    #[arg(long, env = "VISION_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,

    /// The audience JWTs must name (`aud`), when set.
    #[arg(long, env = "VISION_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// The issuer JWTs must name (`iss`), when set.
    #[arg(long, env = "VISION_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// The JWT claim that holds the role.
    #[arg(
        long,
        env = "VISION_JWT_ROLE_CLAIM",
        default_value = "role",
        global = true
    )]
    pub jwt_role_claim: String,

    /// Answer introspection (`__schema`, `__type`); turn off to hide the schema in production.
    #[arg(long, env = "VISION_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// Suggest field names in validation errors ("Did you mean ...?").
    #[arg(long, env = "VISION_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub suggestions: bool,

    /// Serve GraphiQL to browsers at `/graphql`.
    #[arg(long, env = "VISION_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub graphiql: bool,

    /// Operations per second one API key may run (a burst of twice as many); 0: no limit.
    #[arg(
        long,
        env = "VISION_RATE_PER_KEY",
        default_value_t = 200.0,
        global = true
    )]
    pub rate_per_key: f64,

    /// Operations per second from one IP address, whoever calls; 0: no limit.
    #[arg(
        long,
        env = "VISION_RATE_PER_IP",
        default_value_t = 400.0,
        global = true
    )]
    pub rate_per_ip: f64,

    /// The runtime that serves: `runtime_choice` once resolved ([`Config::resolve_runtime`]).
    #[arg(skip)]
    pub runtime: RuntimeKind,

    /// Intra-op threads of each backbone pass (ONNX Runtime only); 0 shares the cores among the
    /// extractor's workers.
    #[arg(long, env = "VISION_THREADS", default_value_t = 0, global = true)]
    pub threads: usize,

    /// Backbone passes the extractor runs at once (ONNX Runtime keeps one session each); 0 means
    /// one per core.
    #[arg(
        long,
        env = "VISION_EXTRACTOR_WORKERS",
        default_value_t = 0,
        global = true
    )]
    pub extractor_workers: usize,

    /// Most images in one backbone pass (micro-batching); 1 turns batching off.
    #[arg(long, env = "VISION_EXTRACTOR_BATCH", default_value_t = BatchSettings::DEFAULT_MAX_BATCH, global = true)]
    pub extractor_batch: usize,

    /// Longest a backbone pass waits for more images once it has one, in milliseconds.
    #[arg(long, env = "VISION_EXTRACTOR_BATCH_WAIT_MS", default_value_t = BatchSettings::DEFAULT_MAX_WAIT.as_millis() as u64, global = true)]
    pub extractor_batch_wait_ms: u64,

    /// Largest accepted image file, in bytes.
    #[arg(long, env = "VISION_MAX_UPLOAD_BYTES", default_value_t = 10 * MIB, global = true)]
    pub max_upload_bytes: usize,

    /// Largest accepted image, in pixels (width x height), against decompression bombs.
    #[arg(long, env = "VISION_MAX_PIXELS", default_value_t = ImageLimits::default().max_pixels, global = true)]
    pub max_pixels: u64,

    /// Most files in one `uploadImages` call.
    #[arg(long, env = "VISION_MAX_BATCH", default_value_t = 64, global = true)]
    pub max_batch: usize,

    /// Largest HTTP request body, in bytes; by default a full batch of the largest files plus room
    /// for the multipart framing.
    #[arg(long, env = "VISION_MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<usize>,

    /// Origins allowed by CORS, comma-separated, or `*` for any; by default any page served from
    /// localhost or 127.0.0.1 (a dashboard on another port during development).
    #[arg(
        long,
        env = "VISION_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Milliseconds an upload waits for the bus to take its messages; past that (Kafka down) the
    /// upload is still accepted and the gateway's outbox relay publishes them later.
    #[arg(
        long,
        env = "VISION_PUBLISH_WAIT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub publish_wait_ms: u64,

    /// Backpressure: images this gateway accepted and the pipeline has not finished, at most
    /// (0: no bound). Past it an upload waits for room, then is refused with OVERLOADED.
    #[arg(long, env = "VISION_MAX_BACKLOG", default_value_t = 64, global = true)]
    pub max_backlog: usize,

    /// Milliseconds an upload waits for room in a full backlog before OVERLOADED (replays wait
    /// as long as it takes).
    #[arg(
        long,
        env = "VISION_ADMISSION_WAIT_MS",
        default_value_t = 250,
        global = true
    )]
    pub admission_wait_ms: u64,

    /// Retention: images (with their objects, predictions and comparison) are deleted after
    /// this many days.
    #[arg(
        long,
        env = "VISION_RETENTION_IMAGES_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub retention_images_days: u32,

    /// Retention: predictions are deleted after this many days (of images kept longer too).
    #[arg(
        long,
        env = "VISION_RETENTION_PREDICTIONS_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub retention_predictions_days: u32,

    /// Retention: the pipeline feed (what subscriptions resume from) is kept this many days.
    #[arg(
        long,
        env = "VISION_RETENTION_FEED_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub retention_feed_days: u32,

    /// How often (minutes) `vision serve` runs retention by itself (0: never; distributed, a
    /// CronJob runs `vision job retention`).
    #[arg(
        long,
        env = "VISION_RETENTION_EVERY_MINUTES",
        default_value_t = 60,
        global = true
    )]
    pub retention_every_minutes: u64,

    /// Data quality: an image not finished this many minutes after its upload is stuck.
    #[arg(
        long,
        env = "VISION_QUALITY_STUCK_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub quality_stuck_minutes: u64,

    /// Data quality: the newest images whose objects are read and hashed each run (every
    /// object's size is checked anyway).
    #[arg(
        long,
        env = "VISION_QUALITY_VERIFY",
        default_value_t = 200,
        global = true
    )]
    pub quality_verify: u64,

    /// How often (minutes) `vision serve` runs the data-quality job by itself (0: never;
    /// `vision job data-quality` runs it once).
    #[arg(
        long,
        env = "VISION_QUALITY_EVERY_MINUTES",
        default_value_t = 1440,
        global = true
    )]
    pub quality_every_minutes: u64,

    /// How often (ms) a serving process checks the model registry for moved aliases besides
    /// the `model-events` it is told of (a replica that missed one converges within this).
    #[arg(
        long,
        env = "VISION_MODEL_CHECK_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub model_check_ms: u64,
}

/// The runtime asked for (`--runtime` / `VISION_RUNTIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// ONNX Runtime when its library loads (`ORT_DYLIB_PATH`, the tests' `.venv`, or the copy
    /// `scripts/onnxruntime.sh` fetches), else tract.
    Auto,
    /// ONNX Runtime; starting fails without its library.
    #[value(alias = "onnxruntime")]
    Ort,
    /// tract, pure Rust.
    Tract,
}

impl Config {
    pub fn jwt_settings(&self) -> crate::auth::jwt::JwtSettings {
        crate::auth::jwt::JwtSettings {
            secret: self.jwt_secret.clone(),
            public_key: self.jwt_public_key.clone(),
            audience: self.jwt_audience.clone(),
            issuer: self.jwt_issuer.clone(),
            role_claim: self.jwt_role_claim.clone(),
        }
    }

    /// Settles which runtime serves. `auto` loads ONNX Runtime's library now and falls back to
    /// tract, saying so once.
    pub fn resolve_runtime(&mut self) {
        self.runtime = match self.runtime_choice {
            RuntimeChoice::Ort => RuntimeKind::Ort,
            RuntimeChoice::Tract => RuntimeKind::Tract,
            RuntimeChoice::Auto => match vision_inference::runtime::ort_backend::available() {
                Ok(library) => {
                    tracing::info!(library = %library.display(), "inference runtime: ONNX Runtime");
                    RuntimeKind::Ort
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "ONNX Runtime unavailable: serving with tract, several times slower \
                         (scripts/serve.sh fetches ONNX Runtime; or set ORT_DYLIB_PATH)"
                    );
                    RuntimeKind::Tract
                }
            },
        };
    }

    /// Defaults for a data folder, as if no flag nor variable were given (used by tests).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>, models_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            kafka_brokers: None,
            kafka_partitions: 3,
            redis_url: None,
            instance_id: None,
            kafka_session_timeout_ms: default_session_timeout_ms(),
            s3_endpoint: None,
            s3_bucket: "vision".into(),
            s3_region: "us-east-1".into(),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            objects_dir: None,
            models_dir: models_dir.into(),
            cifar10_dir: None,
            frontend_dir: None,
            allow_open: false,
            jwt_secret: None,
            jwt_public_key: None,
            jwt_audience: None,
            jwt_issuer: None,
            jwt_role_claim: "role".into(),
            introspection: true,
            suggestions: true,
            graphiql: true,
            rate_per_key: 200.0,
            rate_per_ip: 400.0,
            runtime_choice: RuntimeChoice::Tract,
            runtime: RuntimeKind::Tract,
            threads: 0,
            extractor_workers: 0,
            extractor_batch: BatchSettings::DEFAULT_MAX_BATCH,
            extractor_batch_wait_ms: BatchSettings::DEFAULT_MAX_WAIT.as_millis() as u64,
            max_upload_bytes: 10 * MIB,
            max_pixels: ImageLimits::default().max_pixels,
            max_batch: 64,
            max_body_bytes: None,
            cors_origins: Vec::new(),
            publish_wait_ms: 5000,
            max_backlog: 64,
            admission_wait_ms: 250,
            retention_images_days: 30,
            retention_predictions_days: 30,
            retention_feed_days: 7,
            retention_every_minutes: 60,
            quality_stuck_minutes: 30,
            quality_verify: 200,
            quality_every_minutes: 1440,
            model_check_ms: 10_000,
        }
    }

    /// The CIFAR-10 folder replays read: the configured one, else the first default that exists.
    pub fn cifar10_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.cifar10_dir {
            return Some(dir.clone());
        }
        ["data/cifar10", "../shared/data/cifar10"]
            .into_iter()
            .map(PathBuf::from)
            .find(|dir| dir.is_dir())
    }

    /// The dashboard folder the gateway serves: the configured one, else `./frontend/dist` if
    /// it was built.
    pub fn frontend_dir(&self) -> Option<PathBuf> {
        self.frontend_dir.clone().or_else(|| {
            let built = PathBuf::from("frontend/dist");
            built.join("index.html").is_file().then_some(built)
        })
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            // `mode=rwc` creates the file on first start.
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("vision.db").display()
            ),
        }
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.objects_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("objects"))
    }

    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_bytes: self.max_upload_bytes,
            max_pixels: self.max_pixels,
        }
    }

    pub fn max_body_bytes(&self) -> usize {
        // By default (64 files of 10 MB) also room for a model file of a registration.
        self.max_body_bytes.unwrap_or_else(|| {
            self.max_upload_bytes
                .saturating_mul(self.max_batch.max(1))
                .saturating_add(MIB)
        })
    }

    /// Retention's ages, and its pace (500 rows per statement, 20 ms between statements).
    pub fn retention(&self) -> crate::jobs::RetentionPolicy {
        let days = |n: u32| chrono::Duration::days(i64::from(n));
        crate::jobs::RetentionPolicy {
            images: days(self.retention_images_days),
            predictions: days(self.retention_predictions_days),
            feed: days(self.retention_feed_days),
            batch: 500,
            pause: std::time::Duration::from_millis(20),
        }
    }

    /// What the data-quality job checks.
    pub fn quality(&self) -> crate::jobs::QualityPolicy {
        crate::jobs::QualityPolicy {
            stuck_after: chrono::Duration::minutes(self.quality_stuck_minutes as i64),
            verify: self.quality_verify,
        }
    }

    pub fn admission_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.admission_wait_ms)
    }

    pub fn publish_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.publish_wait_ms)
    }

    /// How often a serving process checks the registry (see `model_check_ms`).
    pub fn model_check(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.model_check_ms.max(100))
    }

    /// This replica's name in the rollout view: `VISION_INSTANCE_ID`, else the host's name and
    /// the process id.
    pub fn replica_name(&self) -> String {
        if let Some(id) = &self.instance_id {
            return id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{host}-{}", std::process::id())
    }

    /// Cores this process may use.
    pub fn cores(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The extractor's micro-batching: workers, batch size and wait.
    pub fn batching(&self) -> BatchSettings {
        BatchSettings {
            max_batch: self.extractor_batch.max(1),
            max_wait: std::time::Duration::from_millis(self.extractor_batch_wait_ms),
            workers: if self.extractor_workers > 0 {
                self.extractor_workers
            } else {
                self.cores()
            },
        }
    }

    /// Backbone passes at once and threads per pass: by default the cores shared among the
    /// workers, so that they never ask for more threads than there are cores.
    pub fn extractor_parallelism(&self) -> Parallelism {
        let workers = self.batching().workers;
        Parallelism {
            sessions: workers,
            threads: if self.threads > 0 {
                self.threads
            } else {
                (self.cores() / workers).max(1)
            },
        }
    }
}

fn default_session_timeout_ms() -> u64 {
    vision_core::bus::KafkaSettings::DEFAULT_SESSION_TIMEOUT.as_millis() as u64
}
