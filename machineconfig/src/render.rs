//! Rendering: required sysctls → one sysctl.d file → a MachineConfig
//! (`machineconfiguration.openshift.io/v1`, Ignition 3.2.0) that writes it.
//!
//! The output is deterministic: settings are sorted (see [`crate::Setting::order_key`]), keys
//! are emitted in a fixed order, and nothing time- or host-dependent goes in, so rendering the
//! same needs twice gives the same bytes and the Machine Config Operator sees no change.

use crate::dataurl;
use crate::error::Error;
use crate::plan::RequiredSysctl;
use std::collections::BTreeMap;
use std::fmt;

/// The label that selects the MachineConfigPool.
pub const ROLE_LABEL: &str = "machineconfiguration.openshift.io/role";
/// The MachineConfig API version.
pub const API_VERSION: &str = "machineconfiguration.openshift.io/v1";
/// The Ignition spec version written.
pub const IGNITION_VERSION: &str = "3.2.0";
/// File mode 0644 — Ignition's `mode` is a decimal integer, so it is written as 420.
pub const MODE_0644: u32 = 0o644;
/// Directory systemd-sysctl reads at boot.
pub const SYSCTL_DIR: &str = "/etc/sysctl.d";

/// A MachineConfigPool role (the value of `machineconfiguration.openshift.io/role`): a valid
/// Kubernetes label value that is not empty (`worker`, `master`, a custom pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role(String);

impl Role {
    /// Parses a role; the error says which label-value rule it breaks.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidRole {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if value.is_empty() {
            return Err(bad("must not be empty (e.g. worker or master)"));
        }
        if value.len() > 63 {
            return Err(bad("a label value has at most 63 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(bad(
                "a label value may contain only letters, digits, '-', '_' and '.'",
            ));
        }
        let alnum_ends = value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && value
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !alnum_ends {
            return Err(bad(
                "a label value must start and end with a letter or digit",
            ));
        }
        Ok(Role(value.to_string()))
    }

    /// The role as written in the label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A MachineConfig name: a Kubernetes object name (RFC 1123 subdomain: at most 253 characters of
/// lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit). It also
/// names the file `/etc/sysctl.d/<name>.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(String);

impl ObjectName {
    /// Parses a name; the error says which rule it breaks.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidName {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if value.is_empty() {
            return Err(bad("must not be empty"));
        }
        if value.len() > 253 {
            return Err(bad("an object name has at most 253 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        {
            return Err(bad(
                "an object name may contain only lowercase letters, digits, '-' and '.'",
            ));
        }
        let ok_end =
            |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok_end(value.bytes().next()) || !ok_end(value.bytes().last()) {
            return Err(bad(
                "an object name must start and end with a letter or digit",
            ));
        }
        if value.split('.').any(str::is_empty) {
            return Err(bad(
                "an object name must not contain empty '.'-separated parts",
            ));
        }
        Ok(ObjectName(value.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rendered MachineConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The sysctl.d file's path on the node.
    pub path: String,
    /// The sysctl.d file's text (one `key = value` line each).
    pub sysctl_conf: String,
    /// The MachineConfig as YAML.
    pub yaml: String,
}

/// The sysctl.d text for `required`: one `key = value` line per setting, in rendering order,
/// duplicates merged; two different values for one key are an error.
pub fn render_sysctl_conf(required: &[RequiredSysctl]) -> Result<String, Error> {
    let mut settings: Vec<_> = required.iter().map(|r| r.setting.clone()).collect();
    settings.sort_by_key(|s| s.order_key());
    settings.dedup();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = String::new();
    for s in &settings {
        let key = s.key().dotted();
        if let Some(prev) = seen.get(&key) {
            return Err(Error::ConflictingSysctl {
                key,
                first: prev.clone(),
                second: s.value(),
            });
        }
        seen.insert(key, s.value());
        out.push_str(&s.line());
        out.push('\n');
    }
    Ok(out)
}

/// Words YAML 1.1 (what `oc`/`kubectl` parse) reads as booleans or null.
const YAML11_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
];

/// `s` as a YAML scalar that every YAML 1.1 and 1.2 reader takes as the same string: plain when
/// it has a letter no number syntax uses and is not a boolean/null word, else single-quoted.
/// Only used for role and name, whose characters are letters, digits, `-`, `_` and `.`.
fn yaml_string(s: &str) -> String {
    let wordy = s
        .chars()
        .any(|c| c.is_ascii_alphabetic() && !"abcdefABCDEFoOxX".contains(c));
    let plain = wordy
        && !YAML11_WORDS.contains(&s.to_ascii_lowercase().as_str())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric());
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Renders a MachineConfig named `name` for pool `role` that writes `required` to
/// `/etc/sysctl.d/<name>.conf` (mode 420 = 0644, overwrite). An empty `required` is an error.
pub fn render(
    name: &ObjectName,
    role: &Role,
    required: &[RequiredSysctl],
) -> Result<Rendered, Error> {
    if required.is_empty() {
        return Err(Error::NothingToRender {
            name: name.to_string(),
        });
    }
    let sysctl_conf = render_sysctl_conf(required)?;
    let path = format!("{SYSCTL_DIR}/{}.conf", name.as_str());
    let source = dataurl::encode_base64(sysctl_conf.as_bytes());
    // Written by hand, not by a serializer: the layout is fixed (keys sorted, two-space indent,
    // kubectl's style), and role and name are quoted whenever a YAML 1.1 reader (oc, kubectl)
    // could take them for something other than a string. `source` and `path` are plain-safe by
    // construction (base64 and DNS-subdomain characters).
    let yaml = format!(
        "apiVersion: {API_VERSION}\n\
         kind: MachineConfig\n\
         metadata:\n\
         \x20 labels:\n\
         \x20   {ROLE_LABEL}: {role}\n\
         \x20 name: {name}\n\
         spec:\n\
         \x20 config:\n\
         \x20   ignition:\n\
         \x20     version: {IGNITION_VERSION}\n\
         \x20   storage:\n\
         \x20     files:\n\
         \x20     - contents:\n\
         \x20         source: {source}\n\
         \x20       mode: {MODE_0644}\n\
         \x20       overwrite: true\n\
         \x20       path: {path}\n",
        role = yaml_string(role.as_str()),
        name = yaml_string(name.as_str()),
    );
    Ok(Rendered {
        path,
        sysctl_conf,
        yaml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(Role::parse("worker").is_ok());
        assert!(Role::parse("worker-cnf").is_ok());
        for (bad, why) in [
            ("", "must not be empty"),
            ("-w", "start and end"),
            ("a b", "only letters"),
            (&"x".repeat(64), "63"),
        ] {
            let e = Role::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(ROLE_LABEL), "{e}");
        }
    }

    #[test]
    fn ambiguous_scalars_are_quoted() {
        for (s, want) in [
            ("worker", "worker"),
            ("81-enable-global-forwarding", "81-enable-global-forwarding"),
            ("yes", "'yes'"),
            ("No", "'No'"),
            ("on", "'on'"),
            ("y", "'y'"),
            ("123", "'123'"),
            ("1.5", "'1.5'"),
            ("1e3", "'1e3'"),
            ("0x1f", "'0x1f'"),
            ("0644", "'0644'"),
            ("deadbeef", "'deadbeef'"),
            ("infra", "infra"),
        ] {
            assert_eq!(yaml_string(s), want, "{s}");
        }
    }

    #[test]
    fn rendered_yaml_reads_back_as_strings() {
        let req = crate::required_sysctls(
            &[crate::ConfTarget::Interface(
                crate::IfName::parse("eth0").unwrap(),
            )],
            &[],
            false,
        )
        .unwrap();
        let r = render(
            &ObjectName::parse("1.5").unwrap(),
            &Role::parse("yes").unwrap(),
            &req,
        )
        .unwrap();
        let v: serde_json::Value = serde_yaml_ng::from_str(&r.yaml).unwrap();
        assert_eq!(v["metadata"]["name"], "1.5");
        assert_eq!(v["metadata"]["labels"][ROLE_LABEL], "yes");
        assert_eq!(v["spec"]["config"]["storage"]["files"][0]["mode"], 420);
        assert_eq!(
            v["spec"]["config"]["storage"]["files"][0]["overwrite"],
            true
        );
        assert_eq!(
            v["spec"]["config"]["storage"]["files"][0]["path"],
            "/etc/sysctl.d/1.5.conf"
        );
    }

    #[test]
    fn names() {
        assert!(ObjectName::parse("81-enable-global-forwarding").is_ok());
        assert!(ObjectName::parse("a.b").is_ok());
        for (bad, why) in [
            ("", "must not be empty"),
            ("Upper", "lowercase"),
            ("a/b", "lowercase"),
            ("a-", "start and end"),
            ("a..b", "empty"),
        ] {
            let e = ObjectName::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("metadata.name"), "{bad}: {e}");
        }
    }
}
