//! Which sysctls a node needs, from what the configuration uses: interfaces that forward service
//! traffic, per-interface reverse-path filtering, and whether VRFs are in use. The agent builds a
//! [`SysctlPlan`] from its configuration; the CLI builds one from flags (and `--from DIR`).

use crate::error::Error;
use crate::sysctl::{ConfTarget, Family, L3mdevProto, RpFilter, Setting, Sysctl};
use std::collections::BTreeMap;

/// A sysctl the node needs, with the reason (for status, logs and the rendered file's reader).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequiredSysctl {
    /// The key and value.
    pub setting: Setting,
    /// Why it is needed, e.g. `port of VRF ens4vrf (NodeNetworkConfigurationPolicy vrfpolicy)`.
    pub reason: String,
}

/// Accumulates what the configuration needs; [`SysctlPlan::required`] turns it into sysctls in a
/// stable order, so the same needs always give the same list (and the same rendered bytes).
/// Asking for the same value twice only adds the reason; asking for a different value for a key
/// already planned is an error naming both values and reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysctlPlan {
    settings: BTreeMap<Sysctl, (Setting, Vec<String>)>,
}

impl SysctlPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans one setting.
    pub fn set(&mut self, setting: Setting, reason: impl Into<String>) -> Result<&mut Self, Error> {
        let reason = reason.into();
        let key = setting.key();
        match self.settings.get_mut(&key) {
            Some((have, reasons)) if *have == setting => {
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            Some((have, reasons)) => {
                return Err(Error::ConflictingSysctl {
                    key: key.dotted(),
                    first: format!("{} ({})", have.value(), reasons.join(", ")),
                    second: format!("{} ({reason})", setting.value()),
                })
            }
            None => {
                self.settings.insert(key, (setting, vec![reason]));
            }
        }
        Ok(self)
    }

    /// IPv4 and IPv6 forwarding on `target`.
    pub fn forward(
        &mut self,
        target: ConfTarget,
        reason: impl Into<String>,
    ) -> Result<&mut Self, Error> {
        let reason = reason.into();
        for family in [Family::Ipv4, Family::Ipv6] {
            self.set(
                Setting::Forwarding {
                    family,
                    target: target.clone(),
                    enabled: true,
                },
                reason.clone(),
            )?;
        }
        Ok(self)
    }

    /// IPv4 reverse-path filtering `mode` on `target`.
    pub fn rp_filter(
        &mut self,
        target: ConfTarget,
        mode: RpFilter,
        reason: impl Into<String>,
    ) -> Result<&mut Self, Error> {
        self.set(Setting::RpFilter { target, mode }, reason)
    }

    /// The l3mdev accept knobs (TCP, UDP, raw) on, because VRFs are used.
    pub fn l3mdev_accept(&mut self, reason: impl Into<String>) -> Result<&mut Self, Error> {
        let reason = reason.into();
        for proto in L3mdevProto::ALL {
            self.set(
                Setting::L3mdevAccept {
                    proto,
                    enabled: true,
                },
                reason.clone(),
            )?;
        }
        Ok(self)
    }

    /// The setting planned for `key`, if any.
    pub fn get(&self, key: &Sysctl) -> Option<&Setting> {
        self.settings.get(key).map(|(s, _)| s)
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }

    /// The sysctls, in rendering order (see [`Setting::order_key`]).
    pub fn required(&self) -> Vec<RequiredSysctl> {
        let mut out: Vec<RequiredSysctl> = self
            .settings
            .values()
            .map(|(setting, reasons)| RequiredSysctl {
                setting: setting.clone(),
                reason: reasons.join("; "),
            })
            .collect();
        out.sort_by_key(|r| r.setting.order_key());
        out
    }
}

/// The sysctls a node needs for: forwarding on `forwarding` interfaces, the given rp_filter modes,
/// and l3mdev accept when `uses_vrf`. A shorthand for building a [`SysctlPlan`].
pub fn required_sysctls(
    forwarding: &[ConfTarget],
    rp_filter: &[(ConfTarget, RpFilter)],
    uses_vrf: bool,
) -> Result<Vec<RequiredSysctl>, Error> {
    let mut plan = SysctlPlan::new();
    for t in forwarding {
        plan.forward(t.clone(), "carries service traffic")?;
    }
    for (t, m) in rp_filter {
        plan.rp_filter(t.clone(), *m, "requested")?;
    }
    if uses_vrf {
        plan.l3mdev_accept("VRFs are used")?;
    }
    Ok(plan.required())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IfName;

    fn t(n: &str) -> ConfTarget {
        ConfTarget::Interface(IfName::parse(n).unwrap())
    }

    #[test]
    fn order_is_stable_whatever_the_input_order() {
        let a = required_sysctls(
            &[t("eth1"), t("bridge-net"), ConfTarget::All],
            &[(t("eth1"), RpFilter::Loose)],
            true,
        )
        .unwrap();
        let b = required_sysctls(
            &[ConfTarget::All, t("bridge-net"), t("eth1"), t("eth1")],
            &[(t("eth1"), RpFilter::Loose)],
            true,
        )
        .unwrap();
        assert_eq!(a, b);
        let lines: Vec<String> = a.iter().map(|r| r.setting.line()).collect();
        assert_eq!(
            lines,
            [
                "net.ipv4.tcp_l3mdev_accept = 1",
                "net.ipv4.udp_l3mdev_accept = 1",
                "net.ipv4.raw_l3mdev_accept = 1",
                "net.ipv4.conf.all.forwarding = 1",
                "net.ipv6.conf.all.forwarding = 1",
                "net.ipv4.conf.bridge-net.forwarding = 1",
                "net.ipv6.conf.bridge-net.forwarding = 1",
                "net.ipv4.conf.eth1.forwarding = 1",
                "net.ipv6.conf.eth1.forwarding = 1",
                "net.ipv4.conf.eth1.rp_filter = 2",
            ]
        );
    }

    #[test]
    fn conflicting_rp_filter_names_both() {
        let mut p = SysctlPlan::new();
        p.rp_filter(t("eth0"), RpFilter::Off, "flag").unwrap();
        p.rp_filter(t("eth0"), RpFilter::Off, "again").unwrap();
        let e = p
            .rp_filter(t("eth0"), RpFilter::Strict, "other")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("eth0") && e.contains("flag, again") && e.contains("other"),
            "{e}"
        );
    }
}
