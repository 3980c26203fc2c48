//! The sysctls a desired state sets or needs: per-interface forwarding and rp_filter, and the
//! namespace-wide l3mdev-accept switches that VRF use needs. Shared by the nmstate applier (which
//! writes them under /proc/sys) and the MachineConfig renderer (which persists them).

use super::types::{DesiredState, InterfaceName, InterfaceState};
use std::fmt;
use std::path::PathBuf;

/// A sysctl metalroute knows how to set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SysctlKey {
    /// `net.ipv4.conf.IFACE.forwarding`.
    Ipv4Forwarding(InterfaceName),
    /// `net.ipv6.conf.IFACE.forwarding`.
    Ipv6Forwarding(InterfaceName),
    /// `net.ipv4.conf.IFACE.rp_filter`.
    Ipv4RpFilter(InterfaceName),
    /// `net.ipv4.tcp_l3mdev_accept`.
    TcpL3mdevAccept,
    /// `net.ipv4.udp_l3mdev_accept`.
    UdpL3mdevAccept,
    /// `net.ipv4.raw_l3mdev_accept`.
    RawL3mdevAccept,
}

impl SysctlKey {
    /// The path components under /proc/sys (interface names kept verbatim, dots included).
    fn components(&self) -> Vec<&str> {
        match self {
            SysctlKey::Ipv4Forwarding(i) => vec!["net", "ipv4", "conf", i.as_str(), "forwarding"],
            SysctlKey::Ipv6Forwarding(i) => vec!["net", "ipv6", "conf", i.as_str(), "forwarding"],
            SysctlKey::Ipv4RpFilter(i) => vec!["net", "ipv4", "conf", i.as_str(), "rp_filter"],
            SysctlKey::TcpL3mdevAccept => vec!["net", "ipv4", "tcp_l3mdev_accept"],
            SysctlKey::UdpL3mdevAccept => vec!["net", "ipv4", "udp_l3mdev_accept"],
            SysctlKey::RawL3mdevAccept => vec!["net", "ipv4", "raw_l3mdev_accept"],
        }
    }

    /// The file under /proc/sys for the current network namespace.
    pub fn proc_path(&self) -> PathBuf {
        let mut p = PathBuf::from("/proc/sys");
        for c in self.components() {
            p.push(c);
        }
        p
    }

    /// The interface this sysctl belongs to, if any.
    pub fn interface(&self) -> Option<&InterfaceName> {
        match self {
            SysctlKey::Ipv4Forwarding(i)
            | SysctlKey::Ipv6Forwarding(i)
            | SysctlKey::Ipv4RpFilter(i) => Some(i),
            _ => None,
        }
    }
}

/// `sysctl`'s dotted spelling; a `.` inside an interface name is written as `/`, as sysctl(8)
/// and sysctl.d(5) expect (`net.ipv4.conf.ens4/100.forwarding`).
impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .components()
            .iter()
            .map(|c| c.replace('.', "/"))
            .collect();
        f.write_str(&parts.join("."))
    }
}

/// A sysctl and the value it must have.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysctlSetting {
    /// Which sysctl.
    pub key: SysctlKey,
    /// Its value (all of these are small integers).
    pub value: u8,
}

impl fmt::Display for SysctlSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.key, self.value)
    }
}

/// The l3mdev sysctls VRF use needs, all set to 1: `net.ipv4.tcp_l3mdev_accept`,
/// `net.ipv4.udp_l3mdev_accept` and `net.ipv4.raw_l3mdev_accept` (they cover IPv6 sockets too).
/// With them, services listening in the default VRF (the API server, node ports, health checks)
/// still accept connections whose packets arrive on a VRF port; metalroute's own VRF sessions
/// bind to the VRF device and do not depend on them.
pub fn l3mdev_sysctls() -> Vec<SysctlSetting> {
    [
        SysctlKey::TcpL3mdevAccept,
        SysctlKey::UdpL3mdevAccept,
        SysctlKey::RawL3mdevAccept,
    ]
    .into_iter()
    .map(|key| SysctlSetting { key, value: 1 })
    .collect()
}

/// The sysctls the state sets explicitly (`ipv4.forwarding`, `ipv6.forwarding`,
/// `ipv4.rp-filter`, `l3mdev-accept`), in a stable order. Interfaces with `state: absent` set
/// nothing.
pub fn explicit_sysctls(state: &DesiredState) -> Vec<SysctlSetting> {
    let mut out = Vec::new();
    for iface in &state.interfaces {
        if iface.state == InterfaceState::Absent {
            continue;
        }
        if let Some(v4) = &iface.ipv4 {
            if let Some(f) = v4.forwarding {
                out.push(SysctlSetting {
                    key: SysctlKey::Ipv4Forwarding(iface.name.clone()),
                    value: u8::from(f),
                });
            }
            if let Some(r) = v4.rp_filter {
                out.push(SysctlSetting {
                    key: SysctlKey::Ipv4RpFilter(iface.name.clone()),
                    value: r.value(),
                });
            }
        }
        if let Some(v6) = &iface.ipv6 {
            if let Some(f) = v6.forwarding {
                out.push(SysctlSetting {
                    key: SysctlKey::Ipv6Forwarding(iface.name.clone()),
                    value: u8::from(f),
                });
            }
        }
    }
    if let Some(l) = &state.l3mdev_accept {
        for (key, v) in [
            (SysctlKey::TcpL3mdevAccept, l.tcp),
            (SysctlKey::UdpL3mdevAccept, l.udp),
            (SysctlKey::RawL3mdevAccept, l.raw),
        ] {
            if let Some(v) = v {
                out.push(SysctlSetting {
                    key,
                    value: u8::from(v),
                });
            }
        }
    }
    out.sort();
    out
}

/// Every sysctl the node needs for this state: the explicit ones, plus — when the state has a
/// VRF and does not say otherwise — [`l3mdev_sysctls`]. Stable order; one entry per key. This is
/// what a MachineConfig should persist.
pub fn needed_sysctls(state: &DesiredState) -> Vec<SysctlSetting> {
    let mut out = explicit_sysctls(state);
    if state.has_vrf() {
        for s in l3mdev_sysctls() {
            if !out.iter().any(|o| o.key == s.key) {
                out.push(s);
            }
        }
    }
    out.sort();
    out
}
