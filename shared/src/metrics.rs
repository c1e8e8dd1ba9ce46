//! Prometheus metrics of a softcat process, through the `metrics` facade:
//! counters and histograms are recorded where things happen (requests, job
//! ends, rows written), gauges of state that lives elsewhere (jobs by kind
//! and state in Postgres, the queue depth in Redis) are read at scrape time.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;

use crate::jobs::{JOB_KINDS, JOB_STATES, JobQueue, state_counts};

/// Buckets of the duration histograms, in seconds: from a fast API answer
/// to a long catalog load.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's Prometheus recorder (once; later calls return
/// the same handle). Call at start-up, before anything is recorded.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was installed already; softcat's metrics stay empty"
            );
        }
        handle
    })
}

/// The metrics in Prometheus' text format, with the gauges read now. A
/// gauge whose source cannot be read is left at its last value and logged.
pub async fn render(db: &DatabaseConnection, queue: &dyn JobQueue) -> String {
    let handle = install();
    match state_counts(db).await {
        Ok(counts) => {
            for kind in JOB_KINDS {
                for state in JOB_STATES {
                    let count = counts
                        .iter()
                        .find(|(k, s, _)| k == kind && s == state)
                        .map_or(0, |(_, _, count)| *count);
                    metrics::gauge!("softcat_jobs", "kind" => kind, "state" => state)
                        .set(count as f64);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot count jobs"),
    }
    match queue.depth().await {
        Ok(depth) => metrics::gauge!("softcat_queue_depth").set(depth as f64),
        Err(error) => tracing::warn!(%error, "metrics: cannot read the queue depth"),
    }
    handle.render()
}

/// Records one answered HTTP request. `route` must be a route template
/// (ids as `{id}`, unknown paths as one value) to keep the label set small.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("softcat_http_requests_total", &labels).increment(1);
    metrics::histogram!("softcat_http_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());
}

/// Records the end of a job attempt.
pub fn job_ended(kind: &str, state: &str, elapsed: Duration) {
    let labels = [("kind", kind.to_owned()), ("state", state.to_owned())];
    metrics::counter!("softcat_jobs_finished_total", &labels).increment(1);
    metrics::histogram!("softcat_job_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// Records the rows a load wrote to a catalog.
pub fn rows_written(catalog: &str, rows: u64) {
    metrics::counter!("softcat_catalog_rows_written_total", "catalog" => catalog.to_owned())
        .increment(rows);
}
