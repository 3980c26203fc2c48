//! Findings: what the checker and the host comparison report, each with a severity, a kind a
//! program can match on, where it was found and a sentence for people.

use std::fmt;

/// How bad a finding is. `check` exits non-zero when any finding is an [`Severity::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; nothing is wrong.
    Note,
    /// Probably not what was meant, or not checkable here.
    Warning,
    /// A defect: the file does not do what it says, or the host does not have the setting.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// The document is not a `machineconfiguration.openshift.io/v1` MachineConfig.
    NotAMachineConfig,
    /// A structural problem: a field of the wrong type or missing.
    Malformed,
    /// The Ignition version is missing or not 3.x.
    IgnitionVersion,
    /// A field from Ignition spec 2 (e.g. `filesystem: root`) that spec 3 ignores.
    Ignition2Field,
    /// A file mode that is not a valid mode at all (negative, above 0o7777).
    InvalidMode,
    /// A decimal mode whose digits read as a sensible octal mode (`644` meant `0644` = 420).
    OctalModeAsDecimal,
    /// A mode written as a YAML 1.1 octal literal (`0644`): `oc`/`kubectl` send 420, but YAML 1.2
    /// readers see the string or the decimal 644.
    YamlOctalMode,
    /// A `contents.source` that is not a decodable `data:` URL.
    UndecodableSource,
    /// A source fetched from the network when the node boots; not checked.
    RemoteSource,
    /// Compressed contents; not decoded.
    CompressedSource,
    /// Contents that are not UTF-8 text.
    NotUtf8,
    /// A file under a sysctl.d directory that systemd-sysctl will not read (not `*.conf`).
    NotSysctlConf,
    /// A sysctl.d line that is not an assignment.
    InvalidSysctlLine,
    /// A key Linux does not have (e.g. `net.ipv6.conf.<if>.rp_filter`).
    NotInLinux,
    /// A value the kernel refuses or misreads for that key.
    InvalidValue,
    /// The same key set twice with different values (the last one wins).
    DuplicateKey,
    /// The key does not exist on this host's kernel.
    AbsentOnHost,
    /// The interface the key names does not exist on this host.
    InterfaceAbsentOnHost,
    /// The running kernel's value differs.
    ValueMismatch,
    /// The per-interface rp_filter is overridden: the kernel uses max(conf/all, conf/<if>).
    RpFilterOverriddenByAll,
    /// Per-interface IPv6 forwarding does not forward unless conf/all/forwarding is 1 (or
    /// force_forwarding is set, Linux 6.17+).
    Ipv6ForwardingNeedsAll,
    /// A key with glob characters; it is not compared with the host.
    Pattern,
    /// A /proc/sys file that exists but cannot be read.
    Unreadable,
}

impl FindingKind {
    /// A short kebab-case name (for `error[not-in-linux]`).
    pub fn slug(self) -> &'static str {
        match self {
            FindingKind::NotAMachineConfig => "not-a-machineconfig",
            FindingKind::Malformed => "malformed",
            FindingKind::IgnitionVersion => "ignition-version",
            FindingKind::Ignition2Field => "ignition2-field",
            FindingKind::InvalidMode => "invalid-mode",
            FindingKind::OctalModeAsDecimal => "octal-mode-as-decimal",
            FindingKind::YamlOctalMode => "yaml-octal-mode",
            FindingKind::UndecodableSource => "undecodable-source",
            FindingKind::RemoteSource => "remote-source",
            FindingKind::CompressedSource => "compressed-source",
            FindingKind::NotUtf8 => "not-utf8",
            FindingKind::NotSysctlConf => "not-sysctl-conf",
            FindingKind::InvalidSysctlLine => "invalid-sysctl-line",
            FindingKind::NotInLinux => "not-in-linux",
            FindingKind::InvalidValue => "invalid-value",
            FindingKind::DuplicateKey => "duplicate-key",
            FindingKind::AbsentOnHost => "absent-on-host",
            FindingKind::InterfaceAbsentOnHost => "interface-absent-on-host",
            FindingKind::ValueMismatch => "value-mismatch",
            FindingKind::RpFilterOverriddenByAll => "rp-filter-overridden-by-all",
            FindingKind::Ipv6ForwardingNeedsAll => "ipv6-forwarding-needs-all",
            FindingKind::Pattern => "pattern",
            FindingKind::Unreadable => "unreadable",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What it is about.
    pub kind: FindingKind,
    /// Where: a field path (`spec.config.storage.files[0].mode`), optionally with the file and
    /// line on the node (`/etc/sysctl.d/x.conf:4`).
    pub location: String,
    /// The sysctl key concerned (dotted form), if any.
    pub key: Option<String>,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}] {}: {}",
            self.severity,
            self.kind.slug(),
            self.location,
            self.message
        )
    }
}
