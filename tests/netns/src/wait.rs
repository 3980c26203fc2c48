//! Bounded polling: every wait in a test has a deadline and fails loudly with what it waited
//! for and what it saw last.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// Polling interval of the `wait_for*` functions.
const POLL: Duration = Duration::from_millis(20);

/// Calls `f` every ~20 ms until it returns `Some`, and returns that value.
///
/// # Panics
/// When `deadline` (a duration from now) passes, naming `what` and the number of attempts.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    wait_for_ok(what, deadline, || f().ok_or("condition not met yet"))
}

/// Calls `f` every ~20 ms until it returns `Ok`, and returns that value.
///
/// # Panics
/// When `deadline` passes, naming `what` and the last `Err` observation.
pub fn wait_for_ok<T, E: Display>(
    what: &str,
    deadline: Duration,
    mut f: impl FnMut() -> Result<T, E>,
) -> T {
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match f() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() >= deadline {
                    panic!(
                        "timed out after {:?} ({attempts} attempts) waiting for {what}; last observation: {last}",
                        start.elapsed()
                    );
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Async variant of [`wait_for`] for tokio tests: awaits `f()` every ~20 ms until it yields
/// `Some`.
///
/// # Panics
/// When `deadline` passes, naming `what`.
pub async fn wait_for_async<T, Fut>(what: &str, deadline: Duration, mut f: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() >= deadline {
            panic!(
                "timed out after {:?} ({attempts} attempts) waiting for {what}",
                start.elapsed()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the file at `path` contains `needle` and returns the file's text.
///
/// # Panics
/// After `deadline`, with the file's last lines.
pub fn wait_for_log(path: &std::path::Path, needle: &str, deadline: Duration) -> String {
    wait_for_ok(
        &format!("{} to contain {needle:?}", path.display()),
        deadline,
        || {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(needle) {
                Ok(text)
            } else {
                let lines: Vec<&str> = text.lines().collect();
                Err(lines[lines.len().saturating_sub(10)..].join("\n"))
            }
        },
    )
}
