//! CPU time per process over the measured run: where the machine's cores went, per image.
//! Read from `/proc` (Linux), so it covers every process the benchmark can name: ours, a broker
//! it started and, distributed, the PostgreSQL server with all its backends.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::server::Server;

/// Name under which every `postgres` process is summed.
const POSTGRES: &str = "postgresql (all processes)";

/// CPU time used so far, by process name.
pub struct CpuSnapshot(BTreeMap<String, Duration>);

impl CpuSnapshot {
    /// Our processes and helpers; with `postgres`, also every local `postgres` process (the
    /// distributed stack's database: on a shared server other databases' work counts too).
    pub fn take(server: &Server, postgres: bool) -> Self {
        let mut times = BTreeMap::new();
        for (name, pid) in server.pids() {
            if let Some(t) = cpu_time(pid) {
                *times.entry(name).or_default() += t;
            }
        }
        if postgres {
            let total = pids_named("postgres")
                .into_iter()
                .filter_map(cpu_time)
                .sum();
            times.insert(POSTGRES.to_string(), total);
        }
        Self(times)
    }

    /// Milliseconds of CPU per image between `self` (before) and `after`, by process, with the
    /// total under "all". Processes that started in between count from zero; ones that ended
    /// are missing (PostgreSQL backends are pooled, so this stays close).
    pub fn per_image(&self, after: &Self, images: usize) -> BTreeMap<String, f64> {
        let images = images.max(1) as f64;
        let mut out: BTreeMap<String, f64> = after
            .0
            .iter()
            .map(|(name, t)| {
                let before = self.0.get(name).copied().unwrap_or_default();
                let used = t.saturating_sub(before);
                (name.clone(), used.as_secs_f64() * 1000.0 / images)
            })
            .collect();
        let total = out.values().sum();
        out.insert("all".to_string(), total);
        out
    }
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from the third: utime and stime
    // are the 14th and 15th, in clock ticks (USER_HZ, 100 on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The processes named `comm` (say `postgres`: the server and every backend).
fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .collect()
}
