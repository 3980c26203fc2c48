//! Typed sysctl keys and the settings metalroute needs, plus the sysctl.d line syntax.
//!
//! A key is parsed once into [`Sysctl`]: the knobs metalroute sets have their own variants
//! (`Forwarding`, `RpFilter`, `L3mdevAccept`), other per-interface knobs are `DevConf`, anything
//! else is `Generic`. IPv4 reverse-path filtering is the only `RpFilter`: IPv6 has none, so a
//! `net.ipv6.conf.<if>.rp_filter` key parses as an (unknown) `DevConf` and the checker flags it.
//!
//! Keys are written the way systemd-sysctl and procps read them: components separated by `.`,
//! with a `.` inside a component (a VLAN interface such as `eth0.100`) written as `/`:
//! `net.ipv4.conf.eth0/100.forwarding` is `/proc/sys/net/ipv4/conf/eth0.100/forwarding`.

use crate::error::Error;
use crate::ifname::IfName;
use std::fmt;
use std::path::{Path, PathBuf};

/// IP family of a `net.ipv4`/`net.ipv6` knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `net.ipv4`.
    Ipv4,
    /// `net.ipv6`.
    Ipv6,
}

impl Family {
    /// The directory name under `/proc/sys/net`.
    pub fn dir(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// Which `conf/<x>` directory a per-interface knob lives in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfTarget {
    /// `conf/all`: applies to (or, for rp_filter, is combined with) every interface.
    All,
    /// `conf/default`: the value new interfaces start with.
    Default,
    /// `conf/<interface>`.
    Interface(IfName),
}

impl ConfTarget {
    /// Parses `all`, `default` or an interface name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "all" => Ok(ConfTarget::All),
            "default" => Ok(ConfTarget::Default),
            other => IfName::parse(other).map(ConfTarget::Interface),
        }
    }

    /// The directory name as the kernel spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ConfTarget::All => "all",
            ConfTarget::Default => "default",
            ConfTarget::Interface(n) => n.as_str(),
        }
    }
}

impl fmt::Display for ConfTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three `net.ipv4.*_l3mdev_accept` knobs: whether sockets bound to no device accept traffic
/// that arrived through a VRF (an L3 master device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L3mdevProto {
    /// `net.ipv4.tcp_l3mdev_accept`.
    Tcp,
    /// `net.ipv4.udp_l3mdev_accept`.
    Udp,
    /// `net.ipv4.raw_l3mdev_accept`.
    Raw,
}

impl L3mdevProto {
    /// All three, in rendering order.
    pub const ALL: [L3mdevProto; 3] = [L3mdevProto::Tcp, L3mdevProto::Udp, L3mdevProto::Raw];

    fn attr(self) -> &'static str {
        match self {
            L3mdevProto::Tcp => "tcp_l3mdev_accept",
            L3mdevProto::Udp => "udp_l3mdev_accept",
            L3mdevProto::Raw => "raw_l3mdev_accept",
        }
    }
}

/// IPv4 reverse-path filtering (`net.ipv4.conf.<x>.rp_filter`). The kernel uses the larger of
/// `conf/all` and `conf/<interface>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RpFilter {
    /// 0: no source validation.
    Off,
    /// 1: strict (RFC 3704): the reverse route must leave through the receiving interface.
    Strict,
    /// 2: loose: the source must be reachable through any interface.
    Loose,
}

impl RpFilter {
    /// The number the kernel stores.
    pub fn as_u8(self) -> u8 {
        match self {
            RpFilter::Off => 0,
            RpFilter::Strict => 1,
            RpFilter::Loose => 2,
        }
    }

    /// Parses `0`, `1` or `2` (also `off`, `strict`, `loose`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "0" | "off" => Ok(RpFilter::Off),
            "1" | "strict" => Ok(RpFilter::Strict),
            "2" | "loose" => Ok(RpFilter::Loose),
            other => Err(format!(
                "rp_filter must be 0 (off), 1 (strict) or 2 (loose), not {other:?}"
            )),
        }
    }
}

/// A parsed sysctl key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sysctl {
    /// `net.ipv4.conf.<x>.forwarding` / `net.ipv6.conf.<x>.forwarding`.
    Forwarding {
        /// IPv4 or IPv6.
        family: Family,
        /// Which conf directory.
        target: ConfTarget,
    },
    /// `net.ipv4.conf.<x>.rp_filter` (IPv4 only: IPv6 has no reverse-path filter sysctl).
    RpFilter {
        /// Which conf directory.
        target: ConfTarget,
    },
    /// `net.ipv4.{tcp,udp,raw}_l3mdev_accept`.
    L3mdevAccept(L3mdevProto),
    /// Any other `net.<family>.conf.<x>.<attr>` knob (it may or may not exist in Linux).
    DevConf {
        /// IPv4 or IPv6.
        family: Family,
        /// Which conf directory.
        target: ConfTarget,
        /// The knob's file name.
        attr: String,
    },
    /// Any other key, as its path components under `/proc/sys`.
    Generic(Vec<String>),
}

/// Splits a sysctl key into `/proc/sys` path components with systemd-sysctl's rule: when the
/// first separator is `/`, the key is a path; when it is `.`, `.` and `/` swap roles.
fn split_key(key: &str) -> Vec<String> {
    let first_sep = key.find(['.', '/']);
    let path: String = match first_sep.map(|i| key.as_bytes()[i]) {
        Some(b'.') => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    };
    path.split('/').map(str::to_string).collect()
}

impl Sysctl {
    /// Parses a key in dotted (`net.ipv4.conf.eth0/100.forwarding`) or path
    /// (`net/ipv4/conf/eth0.100/forwarding`) form. Keys with glob characters in the interface
    /// position, or whose interface is not a valid Linux name, become [`Sysctl::Generic`].
    pub fn parse(key: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidSysctlKey {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let key_trim = key.trim();
        if key_trim.is_empty() {
            return Err(bad("is empty"));
        }
        if key_trim.chars().any(char::is_whitespace) {
            return Err(bad("contains whitespace"));
        }
        let parts = split_key(key_trim);
        if parts.iter().any(String::is_empty) {
            return Err(bad("has an empty component"));
        }
        if parts.iter().any(|p| p == "." || p == "..") {
            return Err(bad("has a \".\" or \"..\" component"));
        }
        let p: Vec<&str> = parts.iter().map(String::as_str).collect();
        let family = |s: &str| match s {
            "ipv4" => Some(Family::Ipv4),
            "ipv6" => Some(Family::Ipv6),
            _ => None,
        };
        Ok(match p.as_slice() {
            ["net", fam, "conf", target, attr] => {
                match (family(fam), ConfTarget::parse(target)) {
                    (Some(family), Ok(target)) => match (family, *attr) {
                        (_, "forwarding") => Sysctl::Forwarding { family, target },
                        (Family::Ipv4, "rp_filter") => Sysctl::RpFilter { target },
                        _ => Sysctl::DevConf {
                            family,
                            target,
                            attr: attr.to_string(),
                        },
                    },
                    // Another family, a glob, or a name Linux would refuse.
                    _ => Sysctl::Generic(parts),
                }
            }
            ["net", "ipv4", "tcp_l3mdev_accept"] => Sysctl::L3mdevAccept(L3mdevProto::Tcp),
            ["net", "ipv4", "udp_l3mdev_accept"] => Sysctl::L3mdevAccept(L3mdevProto::Udp),
            ["net", "ipv4", "raw_l3mdev_accept"] => Sysctl::L3mdevAccept(L3mdevProto::Raw),
            _ => Sysctl::Generic(parts),
        })
    }

    /// The path components under `/proc/sys`.
    pub fn components(&self) -> Vec<String> {
        let conf = |family: Family, target: &ConfTarget, attr: &str| {
            vec![
                "net".to_string(),
                family.dir().to_string(),
                "conf".to_string(),
                target.as_str().to_string(),
                attr.to_string(),
            ]
        };
        match self {
            Sysctl::Forwarding { family, target } => conf(*family, target, "forwarding"),
            Sysctl::RpFilter { target } => conf(Family::Ipv4, target, "rp_filter"),
            Sysctl::L3mdevAccept(p) => {
                vec!["net".into(), "ipv4".into(), p.attr().to_string()]
            }
            Sysctl::DevConf {
                family,
                target,
                attr,
            } => conf(*family, target, attr),
            Sysctl::Generic(parts) => parts.clone(),
        }
    }

    /// The dotted form used in sysctl.d files (`.` inside a component written as `/`).
    pub fn dotted(&self) -> String {
        self.components()
            .iter()
            .map(|c| c.replace('.', "/"))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The file for this key under a `/proc/sys` root.
    pub fn proc_path(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in self.components() {
            p.push(c);
        }
        p
    }

    /// The conf target for per-interface knobs.
    pub fn conf_target(&self) -> Option<(Family, &ConfTarget)> {
        match self {
            Sysctl::Forwarding { family, target } | Sysctl::DevConf { family, target, .. } => {
                Some((*family, target))
            }
            Sysctl::RpFilter { target } => Some((Family::Ipv4, target)),
            _ => None,
        }
    }

    /// The knob's file name (last component).
    pub fn attr(&self) -> String {
        self.components().pop().unwrap_or_default()
    }

    /// Whether the key contains glob characters (systemd-sysctl applies it to every match).
    pub fn is_pattern(&self) -> bool {
        match self {
            Sysctl::Generic(parts) => parts.iter().any(|p| p.contains(['*', '?', '['])),
            _ => false,
        }
    }

    /// Checks a value for the typed knobs (forwarding and l3mdev accept 0/1, rp_filter 0/1/2);
    /// other keys accept any value.
    pub fn check_value(&self, value: &str) -> Result<(), Error> {
        let v = value.trim();
        let bad = |reason: &str| Error::InvalidSysctlValue {
            key: self.dotted(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        match self {
            Sysctl::Forwarding { .. } | Sysctl::L3mdevAccept(_) => match v {
                "0" | "1" => Ok(()),
                _ => Err(bad("must be 0 or 1")),
            },
            Sysctl::RpFilter { .. } => RpFilter::parse(v).map(|_| ()).map_err(|e| bad(&e)),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted())
    }
}

/// A sysctl metalroute wants set: a typed key with a typed value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    /// Forwarding on (or off) for one family and conf target.
    Forwarding {
        /// IPv4 or IPv6.
        family: Family,
        /// Which conf directory.
        target: ConfTarget,
        /// 1 when true.
        enabled: bool,
    },
    /// IPv4 reverse-path filter mode for one conf target.
    RpFilter {
        /// Which conf directory.
        target: ConfTarget,
        /// The mode.
        mode: RpFilter,
    },
    /// One of the l3mdev accept knobs.
    L3mdevAccept {
        /// Which protocol's knob.
        proto: L3mdevProto,
        /// 1 when true.
        enabled: bool,
    },
}

impl Setting {
    /// The key this setting writes.
    pub fn key(&self) -> Sysctl {
        match self {
            Setting::Forwarding { family, target, .. } => Sysctl::Forwarding {
                family: *family,
                target: target.clone(),
            },
            Setting::RpFilter { target, .. } => Sysctl::RpFilter {
                target: target.clone(),
            },
            Setting::L3mdevAccept { proto, .. } => Sysctl::L3mdevAccept(*proto),
        }
    }

    /// The value as the kernel prints it.
    pub fn value(&self) -> String {
        match self {
            Setting::Forwarding { enabled, .. } | Setting::L3mdevAccept { enabled, .. } => {
                u8::from(*enabled).to_string()
            }
            Setting::RpFilter { mode, .. } => mode.as_u8().to_string(),
        }
    }

    /// The sysctl.d line, without newline: `key = value`.
    pub fn line(&self) -> String {
        format!("{} = {}", self.key().dotted(), self.value())
    }

    /// The rendering order: global knobs first, then per conf target (`all`, `default`, then
    /// interfaces by name), within a target IPv4 forwarding, IPv6 forwarding, rp_filter.
    pub fn order_key(&self) -> (u8, Option<ConfTarget>, u8) {
        match self {
            Setting::L3mdevAccept { proto, .. } => (0, None, *proto as u8),
            Setting::Forwarding {
                family: Family::Ipv4,
                target,
                ..
            } => (1, Some(target.clone()), 0),
            Setting::Forwarding {
                family: Family::Ipv6,
                target,
                ..
            } => (1, Some(target.clone()), 1),
            Setting::RpFilter { target, .. } => (1, Some(target.clone()), 2),
        }
    }
}

/// One assignment read from a sysctl.d file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The key as written.
    pub raw_key: String,
    /// The parsed key.
    pub key: Sysctl,
    /// The value, trimmed.
    pub value: String,
    /// `-key = value`: systemd-sysctl ignores a failure to set it.
    pub ignore_failure: bool,
}

/// A line of a sysctl.d file that is neither blank, comment nor a valid assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// Why it is not an assignment.
    pub reason: String,
}

/// Parses sysctl.d text the way systemd-sysctl does: blank lines and lines starting with `#` or
/// `;` are skipped; `key = value` splits at the first `=`, both sides trimmed; a leading `-` on the
/// key means failures are ignored.
pub fn parse_sysctl_conf(text: &str) -> (Vec<SysctlLine>, Vec<BadLine>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bad.push(BadLine {
                line: i + 1,
                text: raw.to_string(),
                reason: "no '=' (systemd-sysctl ignores this line)".into(),
            });
            continue;
        };
        let mut k = k.trim();
        let ignore_failure = k.starts_with('-');
        if ignore_failure {
            k = &k[1..];
        }
        match Sysctl::parse(k) {
            Ok(key) => good.push(SysctlLine {
                line: i + 1,
                raw_key: k.to_string(),
                key,
                value: v.trim().to_string(),
                ignore_failure,
            }),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                text: raw.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(n: &str) -> ConfTarget {
        ConfTarget::Interface(IfName::parse(n).unwrap())
    }

    #[test]
    fn parses_typed_keys() {
        assert_eq!(
            Sysctl::parse("net.ipv4.conf.bridge-net.forwarding").unwrap(),
            Sysctl::Forwarding {
                family: Family::Ipv4,
                target: iface("bridge-net")
            }
        );
        assert_eq!(
            Sysctl::parse("net.ipv6.conf.all.forwarding").unwrap(),
            Sysctl::Forwarding {
                family: Family::Ipv6,
                target: ConfTarget::All
            }
        );
        assert_eq!(
            Sysctl::parse("net.ipv4.conf.default.rp_filter").unwrap(),
            Sysctl::RpFilter {
                target: ConfTarget::Default
            }
        );
        assert_eq!(
            Sysctl::parse("net.ipv4.tcp_l3mdev_accept").unwrap(),
            Sysctl::L3mdevAccept(L3mdevProto::Tcp)
        );
        // IPv6 has no rp_filter: not typed as RpFilter.
        assert_eq!(
            Sysctl::parse("net.ipv6.conf.eth0.rp_filter").unwrap(),
            Sysctl::DevConf {
                family: Family::Ipv6,
                target: iface("eth0"),
                attr: "rp_filter".into()
            }
        );
        assert_eq!(
            Sysctl::parse("kernel.domainname").unwrap(),
            Sysctl::Generic(vec!["kernel".into(), "domainname".into()])
        );
    }

    #[test]
    fn vlan_names_use_slash_in_dotted_form() {
        let dotted = Sysctl::parse("net.ipv4.conf.eth0/100.forwarding").unwrap();
        let path = Sysctl::parse("net/ipv4/conf/eth0.100/forwarding").unwrap();
        assert_eq!(dotted, path);
        assert_eq!(
            dotted,
            Sysctl::Forwarding {
                family: Family::Ipv4,
                target: iface("eth0.100")
            }
        );
        assert_eq!(dotted.dotted(), "net.ipv4.conf.eth0/100.forwarding");
        assert_eq!(
            dotted.proc_path(Path::new("/proc/sys")),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
    }

    #[test]
    fn patterns_and_bad_keys() {
        let k = Sysctl::parse("net.ipv4.conf.*.rp_filter").unwrap();
        assert!(k.is_pattern());
        assert!(Sysctl::parse("net..ipv4").is_err());
        assert!(Sysctl::parse("").is_err());
    }

    #[test]
    fn values_are_checked_for_typed_keys() {
        let rp = Sysctl::parse("net.ipv4.conf.eth0.rp_filter").unwrap();
        assert!(rp.check_value("2").is_ok());
        let e = rp.check_value("3").unwrap_err().to_string();
        assert!(
            e.contains("net.ipv4.conf.eth0.rp_filter") && e.contains("\"3\""),
            "{e}"
        );
        let fwd = Sysctl::parse("net.ipv4.conf.eth0.forwarding").unwrap();
        assert!(fwd.check_value("2").is_err());
    }

    #[test]
    fn sysctl_conf_syntax() {
        let text = "# c\n; c\n\nnet.ipv4.conf.all.forwarding=1\n-net.ipv4.conf.eth0.rp_filter = 2 \ngarbage\n";
        let (good, bad) = parse_sysctl_conf(text);
        assert_eq!(good.len(), 2);
        assert_eq!(good[1].value, "2");
        assert!(good[1].ignore_failure);
        assert_eq!(good[1].line, 5);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 6);
    }
}
