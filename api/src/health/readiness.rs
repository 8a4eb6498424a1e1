//! Start-up milestones. The HTTP server answers as soon as the database is connected and
//! migrated; `/ready` stays 503 until the rest is done, so an orchestrator sends no traffic to a
//! replica still loading its models.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Readiness {
    models_loaded: AtomicBool,
    recovered: AtomicBool,
}

impl Readiness {
    pub fn mark_models_loaded(&self) {
        self.models_loaded.store(true, Ordering::Release);
    }

    /// Images left incomplete by an earlier run have been handed to the pipeline again.
    pub fn mark_recovered(&self) {
        self.recovered.store(true, Ordering::Release);
    }

    pub fn models_loaded(&self) -> bool {
        self.models_loaded.load(Ordering::Acquire)
    }

    pub fn is_ready(&self) -> bool {
        self.models_loaded() && self.recovered.load(Ordering::Acquire)
    }
}
