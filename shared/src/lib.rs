//! softcat's domain: configuration, catalog sources (fetch → parse →
//! transform), the loader that brings the database
//! in line with a source, job records and runtime settings. It knows nothing
//! of HTTP serving, and of the queue only the small [`jobs::JobQueue`] port.

pub mod accounts;
pub mod browse;
pub mod catalog;
pub mod cleanup;
pub mod config;
pub mod cpu;
pub mod db;
pub mod discover;
pub mod fetch;
pub mod jobs;
pub mod loader;
pub mod metrics;
pub mod schedule;
pub mod settings;
pub mod snapshot;
pub mod sources;
pub mod sql;
pub mod suggest;
pub mod uploads;
pub mod version_order;
