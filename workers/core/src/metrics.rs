//! Process-wide Prometheus metrics. Every process (all-in-one or one stage) exposes the same
//! families on `/metrics`; the labels tell the stages and models apart.

use std::sync::LazyLock;

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, fine at the low end where classifier heads live.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

pub struct Metrics {
    pub registry: Registry,
    /// HTTP requests by route and status code.
    pub http_requests: CounterVec,
    pub http_duration: HistogramVec,
    /// Images accepted, by source.
    pub images_accepted: CounterVec,
    /// Uploads refused, by error code.
    pub images_rejected: CounterVec,
    /// Time spent in a pipeline stage per message (extract, classify, record).
    pub stage_duration: HistogramVec,
    /// Model inference time alone, by model.
    pub inference_duration: HistogramVec,
    /// Images per backbone pass of the extractor (its micro-batches).
    pub extractor_batch_size: prometheus::Histogram,
    /// Size of each published message on the wire, by topic (bytes).
    pub message_bytes: HistogramVec,
    /// Predictions made, by model.
    pub predictions: CounterVec,
    /// Errors by stage and kind.
    pub errors: CounterVec,
    /// Consumer lag (messages) by topic and group, where the bus can tell.
    pub consumer_lag: GaugeVec,
    /// Descriptor-cache lookups by result (`hit`, `miss`, `error`).
    pub descriptor_cache: CounterVec,
    /// Accepted images whose message is not on the bus yet (the gateway's outbox), as last seen
    /// by this gateway's relay.
    pub outbox_pending: prometheus::Gauge,
    /// Images this gateway accepted and the pipeline has not finished (the backpressure bound
    /// applies to it).
    pub pipeline_backlog: prometheus::Gauge,
    /// Maintenance job runs, by job and status (`succeeded`, `failed`).
    pub job_runs: CounterVec,
    /// What retention deleted, by kind (`images`, `objects`, `predictions`, `feed_rows`).
    pub retention_deleted: CounterVec,
    /// What the last data-quality run found, by kind.
    pub data_quality_findings: GaugeVec,
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid histogram")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> CounterVec {
    CounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let m = Self {
            http_requests: counter(
                "vision_http_requests_total",
                "HTTP requests by route and status",
                &["route", "status"],
            ),
            http_duration: histogram(
                "vision_http_request_duration_seconds",
                "HTTP request latency by route",
                &["route"],
            ),
            images_accepted: counter(
                "vision_images_accepted_total",
                "Images accepted by source",
                &["source"],
            ),
            images_rejected: counter(
                "vision_images_rejected_total",
                "Uploads refused by error code",
                &["code"],
            ),
            stage_duration: histogram(
                "vision_stage_duration_seconds",
                "Time per message in a pipeline stage",
                &["stage"],
            ),
            inference_duration: histogram(
                "vision_inference_duration_seconds",
                "Model inference time by model",
                &["model"],
            ),
            extractor_batch_size: prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "vision_extractor_batch_size",
                    "Images per backbone pass of the extractor",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            )
            .expect("valid histogram"),
            message_bytes: HistogramVec::new(
                HistogramOpts::new(
                    "vision_message_bytes",
                    "Size of published messages on the wire by topic (bytes)",
                )
                .buckets(prometheus::exponential_buckets(64.0, 2.0, 12).expect("valid buckets")),
                &["topic"],
            )
            .expect("valid histogram"),
            predictions: counter(
                "vision_predictions_total",
                "Predictions made by model",
                &["model"],
            ),
            errors: counter(
                "vision_errors_total",
                "Errors by stage and kind",
                &["stage", "kind"],
            ),
            consumer_lag: GaugeVec::new(
                Opts::new("vision_consumer_lag", "Consumer lag in messages"),
                &["topic", "group"],
            )
            .expect("valid gauge"),
            descriptor_cache: counter(
                "vision_descriptor_cache_total",
                "Descriptor-cache lookups by result",
                &["result"],
            ),
            outbox_pending: prometheus::Gauge::new(
                "vision_outbox_pending",
                "Accepted images whose message is not on the bus yet",
            )
            .expect("valid gauge"),
            pipeline_backlog: prometheus::Gauge::new(
                "vision_pipeline_backlog",
                "Images accepted by this gateway and not finished by the pipeline",
            )
            .expect("valid gauge"),
            job_runs: counter(
                "vision_job_runs_total",
                "Maintenance job runs by job and status",
                &["job", "status"],
            ),
            retention_deleted: counter(
                "vision_retention_deleted_total",
                "What retention deleted, by kind",
                &["kind"],
            ),
            data_quality_findings: GaugeVec::new(
                Opts::new(
                    "vision_data_quality_findings",
                    "What the last data-quality run found, by kind",
                ),
                &["kind"],
            )
            .expect("valid gauge"),
            registry,
        };
        for collector in [
            Box::new(m.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.http_duration.clone()),
            Box::new(m.images_accepted.clone()),
            Box::new(m.images_rejected.clone()),
            Box::new(m.stage_duration.clone()),
            Box::new(m.inference_duration.clone()),
            Box::new(m.extractor_batch_size.clone()),
            Box::new(m.message_bytes.clone()),
            Box::new(m.predictions.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.consumer_lag.clone()),
            Box::new(m.descriptor_cache.clone()),
            Box::new(m.outbox_pending.clone()),
            Box::new(m.pipeline_backlog.clone()),
            Box::new(m.job_runs.clone()),
            Box::new(m.retention_deleted.clone()),
            Box::new(m.data_quality_findings.clone()),
        ] {
            m.registry.register(collector).expect("unique metric names");
        }
        m
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding never fails");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

/// The metrics of this process.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}
