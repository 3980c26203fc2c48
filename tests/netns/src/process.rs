//! Signals for processes a test started: named signal numbers (so tests need no `libc` of their
//! own) and [`terminate`], which asks a [`ChildGuard`] to stop the way an init system would and
//! checks that it does so by itself within a deadline.

use crate::netns::ChildGuard;
use std::process::ExitStatus;
use std::time::Duration;

/// SIGTERM: the polite stop request (a Kubernetes pod's termination, `systemctl stop`).
pub const SIGTERM: i32 = libc::SIGTERM;

/// SIGINT: what Ctrl-C sends.
pub const SIGINT: i32 = libc::SIGINT;

/// SIGKILL: cannot be caught; the process ends without running any shutdown code.
pub const SIGKILL: i32 = libc::SIGKILL;

/// SIGHUP: conventionally "re-read the configuration".
pub const SIGHUP: i32 = libc::SIGHUP;

/// SIGSTOP: freezes the process (a hung daemon) until [`SIGCONT`].
pub const SIGSTOP: i32 = libc::SIGSTOP;

/// SIGCONT: resumes a process stopped with [`SIGSTOP`].
pub const SIGCONT: i32 = libc::SIGCONT;

/// Sends SIGTERM to `child` and waits up to `within` for it to exit on its own; returns its
/// exit status. Unlike dropping the guard, this never escalates to SIGKILL: a process that
/// ignores SIGTERM fails the test.
///
/// # Panics
/// If the child has not exited `within` after SIGTERM (the message names the command).
pub fn terminate(child: &mut ChildGuard, within: Duration) -> ExitStatus {
    child.signal(SIGTERM);
    match child.wait_timeout(within) {
        Some(st) => st,
        None => panic!(
            "`{}` (pid {}) did not exit within {within:?} of SIGTERM",
            child.what(),
            child.id()
        ),
    }
}
