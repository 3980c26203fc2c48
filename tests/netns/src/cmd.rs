//! Running commands: spawn, capture, and panic with the full command line and stderr when a
//! command that must succeed fails.

use std::process::{Command, Output};

/// Renders a command as a shell-like line for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion and returns its output without looking at the exit status.
///
/// # Panics
/// If the program cannot be started at all (e.g. not installed).
pub(crate) fn output_of(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run `{}`: {e}", describe(cmd)),
    }
}

/// Runs `cmd` to completion and returns its output.
///
/// # Panics
/// If it cannot be started or exits unsuccessfully; the message carries the command line, the
/// exit status, stdout and stderr.
pub fn run_checked(cmd: &mut Command) -> Output {
    let out = output_of(cmd);
    if !out.status.success() {
        panic!(
            "`{}` failed ({}):\nstdout: {}\nstderr: {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    out
}

/// Runs `cmd` (which must succeed, see [`run_checked`]) and returns its stdout as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_checked(cmd).stdout).into_owned()
}
