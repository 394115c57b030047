//! This process's own figures for `/metrics`, under the names Prometheus client libraries use
//! (`process_*`), read from `/proc/self` at scrape time: resident memory, open descriptors, CPU
//! seconds and start time. Elsewhere than Linux they are simply absent.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// One reading of `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessFigures {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
}

impl ProcessFigures {
    pub fn read() -> Option<ProcessFigures> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        parse(&stat, &boot, &status, ticks_per_second(), open_fds)
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// `stat`: /proc/self/stat; `boot`: /proc/stat (for `btime`); `status`: /proc/self/status.
fn parse(stat: &str, boot: &str, status: &str, tck: f64, fds: u64) -> Option<ProcessFigures> {
    // Fields after the command name, which may hold spaces: [0] is field 3 (state), so utime
    // (field 14) is [11], stime [12], starttime (field 22) [19].
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(ProcessFigures {
        resident_bytes: rss_kb * 1024,
        open_fds: fds,
        cpu_seconds: (field(11)? + field(12)?) / tck,
        start_time_seconds: btime + field(19)? / tck,
    })
}

/// The `process_*` metrics, read when scraped.
#[derive(Debug)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let Some(p) = ProcessFigures::read() else {
            return Ok(());
        };
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size.",
                p.resident_bytes as f64,
            ),
            (
                "process_open_fds",
                "Open file descriptors.",
                p.open_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch.",
                p.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        let metric = e.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(p.cpu_seconds).encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_documented() {
        let stat = "4242 (tick router) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 \
                    1000 123456 789 18446744073709551615";
        let boot = "cpu  1 2 3\nbtime 1760000000\nprocesses 5\n";
        let status = "Name:\ttickrouter\nVmRSS:\t   12345 kB\n";
        let p = parse(stat, boot, status, 100.0, 17).unwrap();
        assert_eq!(p.resident_bytes, 12345 * 1024);
        assert_eq!(p.open_fds, 17);
        assert!((p.cpu_seconds - 3.0).abs() < 1e-9, "(250 + 50) ticks");
        assert!((p.start_time_seconds - 1_760_000_010.0).abs() < 1e-9);
        assert!(ProcessFigures::read().is_some(), "this test runs on Linux");
    }
}
