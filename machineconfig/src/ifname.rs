//! Network interface names, accepted exactly when Linux would accept them (`dev_valid_name`) and
//! when they can be written into a sysctl.d key without changing its meaning.

use crate::error::Error;
use std::fmt;

/// Linux's `IFNAMSIZ`: a name is at most `IFNAMSIZ - 1` bytes (the last byte is the NUL).
pub const IFNAMSIZ: usize = 16;

/// A network interface name that Linux accepts and that names a `conf/<name>` sysctl directory.
///
/// Rules (from the kernel's `dev_valid_name`): 1 to 15 bytes; not `.` or `..`; no `/`, `:` or
/// whitespace byte (the kernel's `isspace`, which also counts byte 0xA0). In addition:
/// `all` and `default` are refused because they are the kernel's own `conf/all` and
/// `conf/default` directories (use [`crate::ConfTarget::All`]/[`crate::ConfTarget::Default`]),
/// and `=`, `*`, `?`, `[` are refused because in a sysctl.d file they would end the key or turn
/// it into a glob pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

/// The kernel's `isspace` over one byte (lib/ctype.c marks 0xA0 as space too).
fn kernel_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

impl IfName {
    /// Parses an interface name; the error says which rule it breaks.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidInterfaceName {
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("must not be empty".into()));
        }
        if name.len() >= IFNAMSIZ {
            return Err(bad(format!(
                "is {} bytes; Linux allows at most {} (IFNAMSIZ {IFNAMSIZ} minus the NUL)",
                name.len(),
                IFNAMSIZ - 1
            )));
        }
        if name == "." || name == ".." {
            return Err(bad("\".\" and \"..\" are not allowed by Linux".into()));
        }
        for (i, b) in name.bytes().enumerate() {
            if b == b'/' || b == b':' {
                return Err(bad(format!(
                    "byte {i} is {:?}, which Linux does not allow in interface names",
                    b as char
                )));
            }
            if kernel_isspace(b) {
                return Err(bad(format!(
                    "byte {i} (0x{b:02x}) is whitespace, which Linux does not allow in interface names"
                )));
            }
            if b == 0 || b.is_ascii_control() {
                return Err(bad(format!("byte {i} (0x{b:02x}) is a control character")));
            }
            if matches!(b, b'=' | b'*' | b'?' | b'[') {
                return Err(bad(format!(
                    "byte {i} is {:?}, which cannot be written in a sysctl.d key (it would end the key or make it a glob pattern)",
                    b as char
                )));
            }
        }
        if name == "all" || name == "default" {
            return Err(bad(format!(
                "{name:?} is the kernel's conf/{name} sysctl directory, not an interface; use the {name} target"
            )));
        }
        Ok(IfName(name.to_string()))
    }

    /// The name as the kernel knows it (as in `/proc/sys/net/ipv4/conf/<name>`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        IfName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_linux_names() {
        for n in [
            "eth0",
            "bridge-net",
            "ens4vrf",
            "eth0.100",
            "a",
            "123456789012345",
            "br_ex",
            "veth@x",
        ] {
            assert_eq!(IfName::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn refuses_what_linux_refuses() {
        let cases = [
            ("", "empty"),
            ("1234567890123456", "at most 15"),
            (".", "not allowed"),
            ("..", "not allowed"),
            ("eth/0", "'/'"),
            ("eth:0", "':'"),
            ("eth 0", "whitespace"),
            ("eth\t0", "whitespace"),
            ("à", "whitespace"), // UTF-8 C3 A0: the kernel's isspace(0xA0) is true
            ("all", "conf/all"),
            ("default", "conf/default"),
            ("eth=0", "sysctl.d key"),
            ("eth*", "glob"),
        ];
        for (n, want) in cases {
            let err = IfName::parse(n).unwrap_err().to_string();
            assert!(err.contains(want), "{n:?}: {err}");
            assert!(err.contains(&format!("{n:?}")), "{n:?}: {err}");
        }
    }
}
