//! Which sysctls a node needs, from what the configuration uses: interfaces that forward service
//! traffic, per-interface reverse-path filtering, and whether VRFs are in use. The agent builds a
//! [`SysctlPlan`] from its configuration; the CLI builds one from flags (and `--from DIR`).

use crate::error::Error;
use crate::sysctl::{ConfTarget, Family, L3mdevProto, RpFilter, Setting};
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysctlPlan {
    forwarding: BTreeMap<ConfTarget, Vec<String>>,
    rp_filter: BTreeMap<ConfTarget, (RpFilter, Vec<String>)>,
    l3mdev: Vec<String>,
}

impl SysctlPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// IPv4 and IPv6 forwarding on `target` (asking twice only adds the reason).
    pub fn forward(&mut self, target: ConfTarget, reason: impl Into<String>) -> &mut Self {
        let reasons = self.forwarding.entry(target).or_default();
        let reason = reason.into();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
        self
    }

    /// IPv4 reverse-path filtering `mode` on `target`. Asking for a different mode than one asked
    /// before is an error naming both reasons.
    pub fn rp_filter(
        &mut self,
        target: ConfTarget,
        mode: RpFilter,
        reason: impl Into<String>,
    ) -> Result<&mut Self, Error> {
        let reason = reason.into();
        match self.rp_filter.get_mut(&target) {
            Some((have, reasons)) if *have == mode => {
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            Some((have, reasons)) => {
                return Err(Error::ConflictingRpFilter {
                    target: target.to_string(),
                    first: have.as_u8(),
                    first_reason: reasons.join(", "),
                    second: mode.as_u8(),
                    second_reason: reason,
                })
            }
            None => {
                self.rp_filter.insert(target, (mode, vec![reason]));
            }
        }
        Ok(self)
    }

    /// The l3mdev accept knobs (TCP, UDP, raw) on, because VRFs are used.
    pub fn l3mdev_accept(&mut self, reason: impl Into<String>) -> &mut Self {
        let reason = reason.into();
        if !self.l3mdev.contains(&reason) {
            self.l3mdev.push(reason);
        }
        self
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.forwarding.is_empty() && self.rp_filter.is_empty() && self.l3mdev.is_empty()
    }

    /// The sysctls, in rendering order (see [`Setting::order_key`]).
    pub fn required(&self) -> Vec<RequiredSysctl> {
        let mut out = Vec::new();
        if !self.l3mdev.is_empty() {
            for proto in L3mdevProto::ALL {
                out.push(RequiredSysctl {
                    setting: Setting::L3mdevAccept {
                        proto,
                        enabled: true,
                    },
                    reason: self.l3mdev.join("; "),
                });
            }
        }
        for (target, reasons) in &self.forwarding {
            for family in [Family::Ipv4, Family::Ipv6] {
                out.push(RequiredSysctl {
                    setting: Setting::Forwarding {
                        family,
                        target: target.clone(),
                        enabled: true,
                    },
                    reason: reasons.join("; "),
                });
            }
        }
        for (target, (mode, reasons)) in &self.rp_filter {
            out.push(RequiredSysctl {
                setting: Setting::RpFilter {
                    target: target.clone(),
                    mode: *mode,
                },
                reason: reasons.join("; "),
            });
        }
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
        plan.forward(t.clone(), "carries service traffic");
    }
    for (t, m) in rp_filter {
        plan.rp_filter(t.clone(), *m, "requested")?;
    }
    if uses_vrf {
        plan.l3mdev_accept("VRFs are used");
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
