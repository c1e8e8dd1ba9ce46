//! A benchmark step measured: its fastest wall time and its largest peak
//! heap over a few runs, read from the heap counter (`support/heap.rs`,
//! which the benchmark includes as `heap`). A benchmark includes it with
//! `#[path = "support/measure.rs"] mod measure;`.

/// How many times [`measure`] runs a step.
pub const ROUNDS: usize = 3;

/// One measured step of a benchmark.
pub struct Step {
    /// What was measured.
    pub label: &'static str,
    /// The fastest run's wall time.
    pub wall: std::time::Duration,
    /// The largest run's peak heap above what was in use before it, in MiB.
    pub peak_mib: f64,
}

/// Runs `step` [`ROUNDS`] times: the fastest time and the largest peak.
pub fn measure(
    label: &'static str,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Step> {
    let mut wall = std::time::Duration::MAX;
    let mut peak: f64 = 0.0;
    for _ in 0..ROUNDS {
        let before = crate::heap::reset_peak();
        let started = std::time::Instant::now();
        step()?;
        wall = wall.min(started.elapsed());
        peak = peak.max(crate::heap::peak_since(before));
    }
    Ok(Step {
        label,
        wall,
        peak_mib: peak,
    })
}
