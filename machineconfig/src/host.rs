//! The running kernel's sysctls, read from `/proc/sys` (or an injected root, for tests): whether
//! a key exists, its value, and whether the node has what is required — including the kernel's
//! combining rules (rp_filter is max(all, interface); IPv6 forwards only with all.forwarding=1
//! unless the interface has force_forwarding).

use crate::finding::{Finding, FindingKind, Severity};
use crate::plan::RequiredSysctl;
use crate::sysctl::{ConfTarget, Family, Sysctl};
use std::io;
use std::path::{Path, PathBuf};

/// A `/proc/sys` tree: the host's, or any directory laid out the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcSys {
    root: PathBuf,
}

/// What reading one key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The value, whitespace-normalized (runs of blanks become one space).
    Value(String),
    /// The file does not exist.
    Absent,
    /// The file exists but cannot be read (the error's text).
    Unreadable(String),
}

fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ProcSys {
    /// The running kernel's `/proc/sys` (of the current network namespace).
    pub fn host() -> Self {
        ProcSys {
            root: PathBuf::from("/proc/sys"),
        }
    }

    /// A tree rooted at `root` (a fake for tests, or `/host/proc/sys` from a debug pod).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        ProcSys { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads one key.
    pub fn read(&self, key: &Sysctl) -> Observed {
        match std::fs::read_to_string(key.proc_path(&self.root)) {
            Ok(v) => Observed::Value(normalize(&v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Observed::Absent,
            Err(e) => Observed::Unreadable(e.to_string()),
        }
    }

    /// Whether `net/<family>/conf/<target>` exists (the interface exists and has that family).
    pub fn has_conf_dir(&self, family: Family, target: &ConfTarget) -> bool {
        self.root
            .join("net")
            .join(family.dir())
            .join("conf")
            .join(target.as_str())
            .is_dir()
    }

    fn read_int(&self, key: &Sysctl) -> Option<i64> {
        match self.read(key) {
            Observed::Value(v) => v.parse().ok(),
            _ => None,
        }
    }

    /// Compares one key with `want` (when given) on this tree. With `strict` (checking the node
    /// the file is for) missing keys and interfaces are errors; without, they are warnings and
    /// notes (the file may be meant for other nodes). `location` names where the key came from.
    pub fn compare(
        &self,
        key: &Sysctl,
        want: Option<&str>,
        strict: bool,
        location: &str,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let dotted = key.dotted();
        let finding = |severity, kind, message: String| Finding {
            severity,
            kind,
            location: location.to_string(),
            key: Some(dotted.clone()),
            message,
        };
        let missing_sev = if strict {
            Severity::Error
        } else {
            Severity::Warning
        };
        if key.is_pattern() {
            out.push(finding(
                Severity::Note,
                FindingKind::Pattern,
                format!("{dotted} is a glob pattern; systemd-sysctl applies it to every match, not compared here"),
            ));
            return out;
        }
        if let Some((family, target @ ConfTarget::Interface(name))) = key.conf_target() {
            if !self.has_conf_dir(family, target) {
                // Does this kernel have the knob at all? conf/all has every knob.
                let all_key =
                    Sysctl::parse(&format!("net/{}/conf/all/{}", family.dir(), key.attr()));
                let kernel_has = all_key
                    .map(|k| self.read(&k) != Observed::Absent)
                    .unwrap_or(false);
                if !kernel_has {
                    out.push(finding(
                        missing_sev,
                        FindingKind::AbsentOnHost,
                        format!(
                            "this kernel ({}) has no net.{}.conf.*.{} knob",
                            self.root.display(),
                            family.dir(),
                            key.attr()
                        ),
                    ));
                }
                out.push(finding(
                    if strict { Severity::Error } else { Severity::Note },
                    FindingKind::InterfaceAbsentOnHost,
                    format!(
                        "interface {name} has no {} configuration on this host ({} has no net/{}/conf/{name}); value not checked",
                        match family { Family::Ipv4 => "IPv4", Family::Ipv6 => "IPv6" },
                        self.root.display(),
                        family.dir()
                    ),
                ));
                return out;
            }
        }
        let have = match self.read(key) {
            Observed::Value(v) => v,
            Observed::Absent => {
                out.push(finding(
                    missing_sev,
                    FindingKind::AbsentOnHost,
                    format!(
                        "{dotted} does not exist on this host ({} has no such file)",
                        key.proc_path(&self.root).display()
                    ),
                ));
                return out;
            }
            Observed::Unreadable(e) => {
                out.push(finding(
                    Severity::Warning,
                    FindingKind::Unreadable,
                    format!(
                        "{} cannot be read: {e}",
                        key.proc_path(&self.root).display()
                    ),
                ));
                return out;
            }
        };
        let Some(want) = want else { return out };
        let want = normalize(want);
        if have != want {
            out.push(finding(
                Severity::Error,
                FindingKind::ValueMismatch,
                format!("{dotted} is {have} on this host, the file sets {want}"),
            ));
        }
        match key {
            Sysctl::RpFilter {
                target: ConfTarget::Interface(name),
            } => {
                let all = self.read_int(&Sysctl::RpFilter {
                    target: ConfTarget::All,
                });
                if let (Some(all), Ok(w)) = (all, want.parse::<i64>()) {
                    let effective = all.max(w);
                    if effective != w {
                        out.push(finding(
                            Severity::Error,
                            FindingKind::RpFilterOverriddenByAll,
                            format!(
                                "the kernel uses max(net.ipv4.conf.all.rp_filter, net.ipv4.conf.{}.rp_filter) = max({all}, {w}) = {effective} on {name}; set net.ipv4.conf.all.rp_filter to at most {w} too",
                                name.as_str().replace('.', "/")
                            ),
                        ));
                    }
                }
            }
            Sysctl::Forwarding {
                family: Family::Ipv6,
                target: ConfTarget::Interface(name),
            } if want == "1" => {
                let all = self.read_int(&Sysctl::Forwarding {
                    family: Family::Ipv6,
                    target: ConfTarget::All,
                });
                let force = self.read_int(&Sysctl::DevConf {
                    family: Family::Ipv6,
                    target: ConfTarget::Interface(name.clone()),
                    attr: "force_forwarding".into(),
                });
                if all == Some(0) && force != Some(1) {
                    out.push(finding(
                        Severity::Warning,
                        FindingKind::Ipv6ForwardingNeedsAll,
                        format!(
                            "IPv6 packets are forwarded only when net.ipv6.conf.all.forwarding = 1 (here 0){}; net.ipv6.conf.{}.forwarding alone makes {name} act as a router but does not forward",
                            if force.is_some() { ", or with force_forwarding = 1 on the interface (Linux 6.17+)" } else { "" },
                            name.as_str().replace('.', "/")
                        ),
                    ));
                }
            }
            _ => {}
        }
        out
    }

    /// Whether this tree has every required sysctl: an empty result means yes. Missing keys or
    /// interfaces, different values and settings the kernel overrides are errors.
    pub fn check(&self, required: &[RequiredSysctl]) -> Vec<Finding> {
        required
            .iter()
            .flat_map(|r| {
                let key = r.setting.key();
                let loc = format!("{} (needed: {})", key.dotted(), r.reason);
                self.compare(&key, Some(&r.setting.value()), true, &loc)
            })
            .collect()
    }
}

/// Whether the running kernel (this network namespace's `/proc/sys`) has every required sysctl;
/// an empty result means it does.
pub fn check_host(required: &[RequiredSysctl]) -> Vec<Finding> {
    ProcSys::host().check(required)
}
