//! Network namespaces owned by a test ([`Netns`]) and child processes killed on drop
//! ([`ChildGuard`]); running Rust code (threads, tokio runtimes) inside a namespace.

use crate::cmd::{describe, output_of, run_checked};
use std::ffi::OsStr;
use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Per-process counter that makes namespace names unique within one test binary.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Directory where `ip netns` keeps its bind-mounted namespace handles.
const NETNS_DIR: &str = "/var/run/netns";

/// A network namespace created for a test, deleted (with every process still inside it) on drop.
///
/// The name is `<prefix>-<pid>-<counter>`; a stale namespace of the same name is removed
/// first. `lo` is up and IPv6 duplicate address detection is off
/// (`net.ipv6.conf.{all,default}.accept_dad=0`), so addresses are usable at once.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `<prefix>-<pid>-<counter>`.
    ///
    /// # Panics
    /// If `prefix` is empty or contains `/` or whitespace, or if `ip netns add` fails (not root).
    pub fn new(prefix: &str) -> Netns {
        assert!(
            !prefix.is_empty() && !prefix.contains(['/', ' ', '\t', '\n']),
            "Netns::new: prefix {prefix:?} must be non-empty without '/' or whitespace"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        {
            let _lock = NetnsLock::acquire();
            if Path::new(NETNS_DIR).join(&name).exists() {
                kill_all_in(&name);
                let _ = output_of(Command::new("ip").args(["netns", "del", &name]));
            }
            run_checked(Command::new("ip").args(["netns", "add", &name]));
        }
        let ns = Netns { name };
        // The guard exists from here on, so a failure below still deletes the namespace.
        crate::link::sysctl(&ns, "net.ipv6.conf.all.accept_dad", "0");
        crate::link::sysctl(&ns, "net.ipv6.conf.default.accept_dad", "0");
        crate::link::link_up(&ns, "lo");
        ns
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace handle's path (`/var/run/netns/NAME`), usable with `setns(2)`.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// A `Command` running `argv` inside the namespace (`ip netns exec NAME argv...`), for
    /// callers that want to set environment, stdio or working directory themselves.
    ///
    /// # Panics
    /// If `argv` is empty.
    pub fn command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        assert!(!argv.is_empty(), "Netns::command: empty argv");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]);
        cmd.args(argv);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `argv` inside the namespace to completion and returns its output.
    ///
    /// # Panics
    /// If the command fails; the message has the command line, status, stdout and stderr.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Output {
        run_checked(&mut self.command(argv))
    }

    /// Like [`Netns::exec`] but returns stdout as text.
    pub fn exec_stdout<S: AsRef<OsStr>>(&self, argv: &[S]) -> String {
        String::from_utf8_lossy(&self.exec(argv).stdout).into_owned()
    }

    /// Runs `argv` inside the namespace and returns its output whatever the exit status.
    ///
    /// # Panics
    /// Only if the program cannot be started.
    pub fn try_exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Output {
        output_of(&mut self.command(argv))
    }

    /// Runs a shell script (`sh -c script`) inside the namespace; it must succeed. Returns stdout.
    pub fn sh(&self, script: &str) -> String {
        self.exec_stdout(&["sh", "-c", script])
    }

    /// Starts `argv` in the background inside the namespace, stdout and stderr discarded.
    /// The returned guard kills it on drop.
    pub fn spawn<S: AsRef<OsStr>>(&self, argv: &[S]) -> ChildGuard {
        let mut cmd = self.command(argv);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        ChildGuard::spawn(cmd)
    }

    /// Starts `argv` in the background inside the namespace with stdout and stderr appended to
    /// `log` (created if missing). The returned guard kills it on drop.
    pub fn spawn_logged<S: AsRef<OsStr>>(&self, argv: &[S], log: &Path) -> ChildGuard {
        let mut cmd = self.command(argv);
        let file = open_log(log);
        let file2 = match file.try_clone() {
            Ok(f) => f,
            Err(e) => panic!("cannot duplicate log handle {}: {e}", log.display()),
        };
        cmd.stdout(file).stderr(file2);
        ChildGuard::spawn(cmd)
    }

    /// Runs `f` on a new OS thread that has entered this namespace (`setns(CLONE_NEWNET)`),
    /// waits for it and returns its result. Sockets `f` creates live in the namespace.
    /// A panic in `f` is propagated.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = self.path();
        std::thread::scope(|s| {
            let handle = s.spawn(move || {
                enter_netns_path(&path);
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Runs the future made by `make` on a tokio current-thread runtime (time and I/O enabled)
    /// whose thread — and every `spawn_blocking` thread — is inside this namespace, and returns
    /// its output. The future is built on that thread, so it need not be `Send`.
    pub fn block_on<Fut, R>(&self, make: impl FnOnce() -> Fut + Send) -> R
    where
        Fut: Future<Output = R>,
        R: Send,
    {
        let path = self.path();
        self.run(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_start(move || enter_netns_path(&path))
                .build()
            {
                Ok(rt) => rt,
                Err(e) => panic!("cannot build tokio runtime: {e}"),
            };
            rt.block_on(make())
        })
    }

    /// A multi-thread tokio runtime whose worker and blocking threads are inside this
    /// namespace. Note: the future given to `Runtime::block_on` itself is polled on the
    /// *calling* thread; create sockets inside `runtime.spawn(...)` tasks (or use
    /// [`Netns::block_on`]).
    pub fn runtime(&self, worker_threads: usize) -> tokio::runtime::Runtime {
        let path = self.path();
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .enable_all()
            .on_thread_start(move || enter_netns_path(&path))
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("cannot build tokio runtime: {e}"),
        }
    }

    /// Moves the *calling* thread into this namespace for good (for threads the caller made).
    /// Never call it on a thread that will outlive the test or that others share.
    pub fn enter_thread(&self) {
        enter_netns_path(&self.path());
    }

    /// Process ids of every process currently inside the namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        pids_in(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        let _lock = NetnsLock::acquire();
        let out = output_of(Command::new("ip").args(["netns", "del", &self.name]));
        if !out.status.success() {
            eprintln!(
                "warning: ip netns del {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
    }
}

/// Lock file serialising `ip netns add`/`del` across threads and processes.
const LOCK_PATH: &str = "/var/run/metalroute-netns.lock";

/// An exclusive `flock` on [`LOCK_PATH`], released on drop. iproute2 turns /var/run/netns into
/// a shared mount on first use and races when several `ip netns add` run at once.
struct NetnsLock(Option<File>);

impl NetnsLock {
    fn acquire() -> NetnsLock {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH);
        match file {
            Ok(f) => {
                // SAFETY: flock on a valid open fd; blocks until the lock is ours.
                let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
                NetnsLock((rc == 0).then_some(f))
            }
            // Not root or read-only /var/run: `ip netns` will fail with a clear message anyway.
            Err(_) => NetnsLock(None),
        }
    }
}

impl Drop for NetnsLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            // SAFETY: unlocking a lock we hold on a valid fd.
            unsafe {
                libc::flock(f.as_raw_fd(), libc::LOCK_UN);
            }
        }
    }
}

/// Moves the calling thread into the network namespace whose handle is at `path`.
///
/// # Panics
/// If the handle cannot be opened or `setns` fails.
pub fn enter_netns_path(path: &Path) {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => panic!("cannot open netns handle {}: {e}", path.display()),
    };
    // SAFETY: setns on a valid open fd with CLONE_NEWNET only changes this thread's network
    // namespace; it touches no memory.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        panic!(
            "setns({}, CLONE_NEWNET) failed: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// Pids inside namespace `name`, without our own process (a test thread may have entered it).
fn pids_in(name: &str) -> Vec<u32> {
    let out = output_of(Command::new("ip").args(["netns", "pids", name]));
    let me = std::process::id();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p != me)
        .collect()
}

/// SIGTERM then (after up to 2 s) SIGKILL for every process in namespace `name`.
fn kill_all_in(name: &str) {
    let pids = pids_in(name);
    if pids.is_empty() {
        return;
    }
    for &p in &pids {
        signal(p, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !pids_in(name).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in pids_in(name) {
        signal(p, libc::SIGKILL);
    }
}

/// Sends `sig` to `pid`, ignoring a process that is already gone.
fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory effects; a stale pid just yields ESRCH.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Opens `path` for appending (creating it), panicking with the path on failure.
pub(crate) fn open_log(path: &Path) -> File {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => panic!("cannot open log file {}: {e}", path.display()),
    }
}

/// A child process killed on drop: SIGTERM, up to 3 s of grace, then SIGKILL; always reaped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    what: String,
}

impl ChildGuard {
    /// Spawns `cmd` and guards the child.
    ///
    /// # Panics
    /// If the program cannot be started.
    pub fn spawn(mut cmd: Command) -> ChildGuard {
        let what = describe(&cmd);
        match cmd.spawn() {
            Ok(child) => ChildGuard { child, what },
            Err(e) => panic!("cannot start `{what}`: {e}"),
        }
    }

    /// Guards an already spawned child; `what` names it in messages.
    pub fn from_child(child: Child, what: impl Into<String>) -> ChildGuard {
        ChildGuard {
            child,
            what: what.into(),
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The command line, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the child to exit on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal (e.g. `libc::SIGHUP`) to the child.
    pub fn signal(&self, sig: i32) {
        signal(self.child.id(), sig);
    }

    /// Access to the underlying `std::process::Child` (for piped stdio).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the child now (SIGTERM, grace, SIGKILL) and returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(st) = self.try_wait() {
            return Some(st);
        }
        self.signal(libc::SIGTERM);
        if let Some(st) = self.wait_timeout(Duration::from_secs(3)) {
            return Some(st);
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
