//! Percentiles by nearest rank: with few samples, p99 is the slowest one, never an interpolated guess.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
}

impl Percentiles {
    pub fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort();
        Self { p50: nearest_rank(&sorted, 50.0), p99: nearest_rank(&sorted, 99.0) }
    }
}

pub fn nearest_rank<T: Copy + Default>(sorted: &[T], percentile: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median<T: Copy + Default + Ord>(samples: &[T]) -> T {
    let mut sorted = samples.to_vec();
    sorted.sort();
    nearest_rank(&sorted, 50.0)
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
