//! A heap counter for the benchmarks: the global allocator of a benchmark
//! binary forwards to mimalloc (the allocator the softcat binary runs
//! with) and counts bytes in use and their peak, so that each step's peak
//! memory can be read apart from the others. A benchmark includes it with
//! `#[path = "support/heap.rs"] mod heap;`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

struct TrackingAllocator;

static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

static HEAP_IN_USE: AtomicUsize = AtomicUsize::new(0);
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to mimalloc; the
// counters only observe sizes.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { INNER.alloc(layout) };
        if !pointer.is_null() {
            grow(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { INNER.dealloc(pointer, layout) };
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { INNER.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        moved
    }
}

fn grow(size: usize) {
    let now = HEAP_IN_USE.fetch_add(size, Ordering::Relaxed) + size;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

/// Heap bytes in use now.
pub fn in_use() -> usize {
    HEAP_IN_USE.load(Ordering::Relaxed)
}

/// Starts a new peak from what is in use now, and returns that.
pub fn reset_peak() -> usize {
    let now = in_use();
    HEAP_PEAK.store(now, Ordering::Relaxed);
    now
}

/// Peak heap above `base` since the last reset, in MiB.
pub fn peak_since(base: usize) -> f64 {
    HEAP_PEAK.load(Ordering::Relaxed).saturating_sub(base) as f64 / (1024.0 * 1024.0)
}
