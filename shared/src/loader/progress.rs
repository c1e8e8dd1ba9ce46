//! How a load tells its caller where it is: the command draws a progress bar,
//! a worker will record the phase on the job.

/// The phases of a load, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the source documents.
    Fetch,
    /// Parsing and transforming them into a snapshot.
    Transform,
    /// Comparing the snapshot with what is stored.
    Compare,
    /// Writing the differences.
    Write,
}

impl Phase {
    /// A short lower-case name for logs and progress displays.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Transform => "transform",
            Self::Compare => "compare",
            Self::Write => "write",
        }
    }
}

/// Receives progress from a load. Methods are cheap and called per phase or
/// per batch, never per row.
pub trait Progress: Send + Sync {
    /// A phase begins; `total` is its number of units (rows) when known.
    fn phase(&self, phase: Phase, total: Option<u64>);
    /// `units` more units of the current phase are done.
    fn advance(&self, units: u64);
    /// The current phase tries again: retry number `retry` of the `of`
    /// allowed (a fetch whose attempt failed). Shown as, e.g.,
    /// `fetching (retry 2 of 3)` ([`retry_text`]).
    fn retry(&self, phase: Phase, retry: u32, of: u32) {
        let _ = (phase, retry, of);
    }
    /// The load's transaction has begun in `session` (a job records it, so
    /// that a successor can end the transaction of a worker that died).
    fn transaction(&self, session: super::LoadSession) {
        let _ = session;
    }
}

/// How a retry of a phase reads: `fetching (retry 2 of 3)`.
pub fn retry_text(phase: Phase, retry: u32, of: u32) -> String {
    let doing = match phase {
        Phase::Fetch => "fetching",
        Phase::Transform => "transforming",
        Phase::Compare => "comparing",
        Phase::Write => "writing",
    };
    format!("{doing} (retry {retry} of {of})")
}

/// Ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: Phase, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_reads_as_what_is_tried_again() {
        assert_eq!(retry_text(Phase::Fetch, 2, 3), "fetching (retry 2 of 3)");
    }
}
