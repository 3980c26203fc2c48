//! Reads and writes sysctls under /proc/sys. /proc/sys/net resolves to the network namespace of
//! the calling thread, so this acts on the same namespace as the netlink socket.

use crate::error::{Error, Result};
use metalroute_crds::nmstate::SysctlKey;
use std::collections::BTreeMap;

/// The current value of `key` (trimmed), `None` when it does not exist (e.g. the interface is
/// missing).
pub fn read(key: &SysctlKey) -> Result<Option<String>> {
    match std::fs::read_to_string(key.proc_path()) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Sysctl {
            key: key.to_string(),
            source,
        }),
    }
}

/// Reads every key.
pub fn read_all<'a>(
    keys: impl IntoIterator<Item = &'a SysctlKey>,
) -> Result<BTreeMap<SysctlKey, Option<String>>> {
    let mut out = BTreeMap::new();
    for k in keys {
        out.insert(k.clone(), read(k)?);
    }
    Ok(out)
}

/// Writes `value` to `key`.
pub fn write(key: &SysctlKey, value: &str) -> Result<()> {
    std::fs::write(key.proc_path(), value.as_bytes()).map_err(|source| Error::Sysctl {
        key: key.to_string(),
        source,
    })
}
