//! Prerequisite checks: root, router binaries, VRF support. A missing prerequisite skips the
//! test on a laptop and fails it in CI (`METALROUTE_REQUIRE_NETNS=1`, `METALROUTE_REQUIRE_VRF=1`).

use crate::cmd::output_of;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root (effective uid 0): needed for namespaces, veths, routers.
    Root,
    /// A program, looked up in /usr/lib/frr, /usr/sbin, /usr/bin, /sbin, /bin and `$PATH`
    /// (e.g. `"bgpd"`, `"bfdd"`, `"zebra"`, `"bird"`, `"gobgpd"`, `"exabgp"`).
    Binary(&'static str),
    /// A kernel with VRF devices (the host here has none; the VM stage has them).
    Vrf,
}

/// True if env var `name` is set to `1`/`true`/`yes`.
fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// True when a missing root or router binary must fail the test (`METALROUTE_REQUIRE_NETNS=1`).
pub fn require_netns() -> bool {
    env_flag("METALROUTE_REQUIRE_NETNS")
}

/// True when a missing VRF must fail the test (`METALROUTE_REQUIRE_VRF=1`, set in the VM).
pub fn require_vrf() -> bool {
    env_flag("METALROUTE_REQUIRE_VRF")
}

/// Full path of program `name`, searching FRR's daemon directory first.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let mut dirs: Vec<PathBuf> = ["/usr/lib/frr", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this kernel can create VRF devices; probed once per process in a scratch namespace.
fn vrf_available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if !is_root() {
                return Err("not root, cannot probe for VRF".into());
            }
            // Load the module if it exists (no-op when built in or absent).
            let _ = output_of(Command::new("modprobe").arg("vrf"));
            let ns = crate::netns::Netns::new("vrfprobe");
            let out = ns.try_exec(&[
                "ip", "link", "add", "vrfprobe", "type", "vrf", "table", "10",
            ]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            }
        })
        .clone()
}

/// Prints a line that libtest's output capture does not swallow.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Checks what `test` needs. Returns true when everything is there. When something is missing
/// it prints `SKIP <test>: <why>` and returns false — or panics, if the environment demands
/// it: a missing [`Need::Root`]/[`Need::Binary`] panics under `METALROUTE_REQUIRE_NETNS=1`,
/// a missing [`Need::Vrf`] panics under `METALROUTE_REQUIRE_VRF=1` (set inside the VM).
///
/// VRF tests should be named `vrf_*`: `scripts/test-vm` runs exactly those in the VM.
pub fn prerequisites(test: &str, needs: &[Need]) -> bool {
    for need in needs {
        let missing = match need {
            Need::Root => (!is_root()).then(|| "needs root".to_owned()),
            Need::Binary(b) => find_binary(b)
                .is_none()
                .then(|| format!("program {b} not installed (see scripts/install-deps)")),
            Need::Vrf => {
                if !is_root() {
                    Some("needs root".to_owned())
                } else {
                    vrf_available().err().map(|e| {
                        format!(
                            "no VRF in this kernel ({e}); runs in the VM stage (scripts/test-vm)"
                        )
                    })
                }
            }
        };
        if let Some(why) = missing {
            let fatal = match need {
                Need::Vrf => require_vrf() || (require_netns() && !is_root()),
                _ => require_netns(),
            };
            if fatal {
                panic!("{test}: missing prerequisite: {why} (required by METALROUTE_REQUIRE_NETNS/METALROUTE_REQUIRE_VRF)");
            }
            report(&format!("SKIP {test}: {why}"));
            return false;
        }
    }
    true
}
