//! CPU time and memory of processes from /proc (as the shared load generator reads them), and
//! how much CPU everything else on the machine used, to spot disturbed runs.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime of every thread, in clock ticks.
    pub ticks: u64,
    /// VmHWM (peak resident set), kB.
    pub hwm_kb: u64,
    /// VmRSS, kB.
    pub rss_kb: u64,
}

pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of /proc/PID/stat after the command name (which may contain spaces): index 0 is the
/// state (field 3), 1 the ppid, 11 utime, 12 stime, 13 cutime, 14 cstime.
fn stat_fields(pid: i32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

impl ProcSample {
    pub fn read(pid: i32) -> Option<ProcSample> {
        let f = stat_fields(pid)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Some(ProcSample {
            ticks: f.get(11)? + f.get(12)?,
            hwm_kb: kb("VmHWM:"),
            rss_kb: kb("VmRSS:"),
        })
    }

    /// The sum over several processes (several tickrouter instances).
    pub fn read_all(pids: &[i32]) -> Option<ProcSample> {
        let mut total = ProcSample::default();
        for pid in pids {
            let s = ProcSample::read(*pid)?;
            total.ticks += s.ticks;
            total.hwm_kb += s.hwm_kb;
            total.rss_kb += s.rss_kb;
        }
        Some(total)
    }
}

/// Whole-machine CPU time from the first line of /proc/stat, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostTicks {
    /// Everything but idle, iowait and steal.
    pub busy: u64,
    /// Time the hypervisor ran something else while our vCPUs had work: a thread on a stolen
    /// vCPU stops for the host's whole slice, so even a little shows in the latency tail.
    pub steal: u64,
}

pub fn host_ticks() -> Option<HostTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    (v.len() >= 8).then(|| HostTicks {
        busy: v[0] + v[1] + v[2] + v[5] + v[6],
        steal: v[7],
    })
}

/// The 1-minute load average, as the machine reported it when the run started.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// pid -> (utime+stime+cutime+cstime, is a kernel thread), for every process on the machine.
/// cutime/cstime catch short-lived children (compilers, scripts) reaped inside the window.
pub type Procs = HashMap<i32, (u64, bool)>;

pub fn all_procs() -> Procs {
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return m;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Some(f) = stat_fields(pid) else { continue };
        let num = |i: usize| f.get(i).copied().unwrap_or(0);
        let kernel = pid == 2 || num(1) == 2;
        m.insert(pid, (num(11) + num(12) + num(13) + num(14), kernel));
    }
    m
}

/// (CPU seconds of other user processes, CPU seconds of kernel threads) between two snapshots,
/// leaving out `ours`.
pub fn others_delta(a: &Procs, b: &Procs, ours: &[i32], tck: f64) -> (f64, f64) {
    let (mut user, mut kernel) = (0u64, 0u64);
    for (pid, (t1, k)) in b {
        if ours.contains(pid) {
            continue;
        }
        let d = t1.saturating_sub(a.get(pid).map_or(0, |x| x.0));
        if *k {
            kernel += d
        } else {
            user += d
        }
    }
    (user as f64 / tck, kernel as f64 / tck)
}

/// Open files wanted for 10,000 connections: the client's socket, and on the server the socket
/// plus the duplicate tickrouter keeps of it to cut off stalled clients (`net::ConnCloser`).
const WANTED_NOFILE: libc::rlim_t = 65_536;

/// Raises this process's open-file limit (children inherit it): soft and hard to
/// `WANTED_NOFILE` where allowed (root), else the soft limit to the hard one.
pub fn raise_nofile() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return;
        }
        if rl.rlim_max < WANTED_NOFILE {
            let wanted = libc::rlimit {
                rlim_cur: WANTED_NOFILE,
                rlim_max: WANTED_NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return;
            }
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max.min(WANTED_NOFILE.max(rl.rlim_cur));
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// The open-file limit now in force (reported with each run).
pub fn nofile() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    rl.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = ProcSample::read(std::process::id() as i32).expect("own /proc entry");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb);
        assert!(host_ticks().is_some());
        assert!(all_procs().contains_key(&(std::process::id() as i32)));
    }
}
