//! softcat's domain: configuration, the catalog schema's entities, catalog
//! sources (fetch → parse → transform) and the loader that brings the
//! database in line with a source. It knows nothing of HTTP serving or queues.

pub mod accounts;
pub mod browse;
pub mod catalog;
pub mod config;
pub mod db;
pub mod entities;
pub mod fetch;
pub mod loader;
pub mod snapshot;
pub mod sources;
pub mod sql;
pub mod version_order;
