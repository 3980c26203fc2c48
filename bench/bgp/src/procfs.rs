//! What the benchmark reads about a sender process from `/proc`: peak RSS (`VmHWM`), CPU time
//! (utime + stime of the whole thread group), and which process of a namespace is the speaker.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/PID/stat` times.
fn clk_tck() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system, all threads, exited threads included) of `pid`; `None` when the
/// process is gone (or a zombie).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // A zombie (exited, not reaped yet) or dead process counts as gone.
    if matches!(f.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

/// Peak resident set size of `pid` in KiB (`VmHWM`).
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Current resident set size of `pid` in KiB (`VmRSS`).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The command line of `pid`, arguments joined by spaces.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Among `pids`, the largest (by RSS) whose command line contains `needle` and none of
/// `exclude`.
pub fn find_pid(pids: &[u32], needle: &str, exclude: &[&str]) -> Option<u32> {
    pids.iter()
        .copied()
        .filter(|&p| {
            let c = cmdline(p);
            c.contains(needle) && !exclude.iter().any(|x| c.contains(x))
        })
        .max_by_key(|&p| rss_kb(p))
}

/// Waits until `pid` has used at most 20 ms of CPU over the last 600 ms (done loading), up to
/// `deadline`. Returns how long it took, or `Err` at the deadline or when the process is gone.
pub fn wait_idle(pid: u32, deadline: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut samples: Vec<(Instant, f64)> = Vec::new();
    loop {
        crate::check_interrupted();
        let Some(c) = cpu_seconds(pid) else {
            return Err(format!("process {pid} exited while loading its routes"));
        };
        let now = Instant::now();
        samples.push((now, c));
        if let Some(&(t, c0)) = samples
            .iter()
            .find(|(t, _)| now.duration_since(*t) <= Duration::from_millis(600))
        {
            if now.duration_since(t) >= Duration::from_millis(500) && c - c0 <= 0.02 {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > deadline {
            return Err(format!(
                "process {pid} still busy after {deadline:?} (loading its routes)"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
