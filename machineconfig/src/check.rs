//! The checker: reads MachineConfig YAML (one or more documents), decodes every Ignition storage
//! file, lists the sysctls of sysctl.d files, and reports what is wrong — keys Linux does not
//! have, invalid values, modes that are octal written as decimal, keys or interfaces missing on
//! this host and, in host mode, values that differ from the running kernel's.

use crate::catalog;
use crate::dataurl;
use crate::error::Error;
use crate::finding::{Finding, FindingKind, Severity};
use crate::host::ProcSys;
use crate::sysctl::{parse_sysctl_conf, SysctlLine};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Directories systemd-sysctl reads (`*.conf` only).
pub const SYSCTL_DIRS: &[&str] = &[
    "/etc/sysctl.d/",
    "/run/sysctl.d/",
    "/usr/local/lib/sysctl.d/",
    "/usr/lib/sysctl.d/",
    "/lib/sysctl.d/",
];

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The `/proc/sys` tree keys are looked up in (the host's by default).
    pub proc_sys: ProcSys,
    /// Host mode (`--host`): this is the node the file is for — missing keys and interfaces are
    /// errors, and every value is compared with the kernel's.
    pub host: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            proc_sys: ProcSys::host(),
            host: false,
        }
    }
}

/// One storage file, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    /// The MachineConfig's `metadata.name` (or `document N` when it has none).
    pub machine_config: String,
    /// Index in `spec.config.storage.files`.
    pub index: usize,
    /// The path on the node.
    pub path: String,
    /// `mode` as written (a decimal integer in Ignition).
    pub mode: Option<i64>,
    /// The decoded text, when it could be decoded (contents plus every `append` entry).
    pub contents: Option<String>,
    /// The sysctl assignments, for files under a sysctl.d directory.
    pub sysctls: Vec<SysctlLine>,
}

/// Everything the checker found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Every storage file of every MachineConfig, in document and index order.
    pub files: Vec<CheckedFile>,
    /// Every finding, in the order found.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings of one kind.
    pub fn of_kind(&self, kind: FindingKind) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.kind == kind).collect()
    }

    /// A report for people: files with their mode and sysctls, then the findings and a summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            let mode = match f.mode {
                Some(m) if (0..=0o7777).contains(&m) => format!("mode {m} = 0{m:o}"),
                Some(m) => format!("mode {m}"),
                None => "mode unset (Ignition default 0644)".to_string(),
            };
            let _ = writeln!(
                s,
                "MachineConfig {}: file {} ({mode})",
                f.machine_config, f.path
            );
            for l in &f.sysctls {
                let _ = writeln!(
                    s,
                    "  {}{} = {}",
                    if l.ignore_failure { "-" } else { "" },
                    l.key.dotted(),
                    l.value
                );
            }
            if f.sysctls.is_empty() {
                if let Some(c) = &f.contents {
                    let _ = writeln!(s, "  ({} bytes, not a sysctl.d file)", c.len());
                }
            }
        }
        for f in &self.findings {
            let _ = writeln!(s, "{f}");
        }
        let count = |sev| self.findings.iter().filter(|f| f.severity == sev).count();
        let _ = writeln!(
            s,
            "{} file(s), {} sysctl(s): {} error(s), {} warning(s), {} note(s)",
            self.files.len(),
            self.files.iter().map(|f| f.sysctls.len()).sum::<usize>(),
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note)
        );
        s
    }
}

/// `ls -l` style permissions of a mode (with setuid/setgid/sticky).
pub fn mode_string(mode: u32) -> String {
    let mut s = String::new();
    for (shift, special, ch) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => ch,
            (true, false) => ch.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Whether `mode` looks like a mode someone would choose for a file: no setuid/setgid/sticky,
/// owner can read, every class is none, r, r-x, rw- or rwx, and group and others have no more
/// than the owner (others no more than the group).
fn is_sensible_mode(mode: u32) -> bool {
    if mode & !0o777 != 0 {
        return false;
    }
    let (u, g, o) = ((mode >> 6) & 7, (mode >> 3) & 7, mode & 7);
    let class_ok = |c: u32| matches!(c, 0 | 4 | 5 | 6 | 7);
    u & 4 != 0 && class_ok(u) && class_ok(g) && class_ok(o) && g & !u == 0 && o & !g == 0
}

/// When `decimal` is a mode that was meant as octal — its decimal digits are all 0–7, read as
/// octal they give a sensible mode, and as the decimal it is they give a strange one (`644` →
/// 0o1204, `--w----r-T`) — returns the mode that was meant (0o644).
pub fn octal_written_as_decimal(decimal: i64) -> Option<u32> {
    if !(8..=7777).contains(&decimal) {
        return None;
    }
    let digits = decimal.to_string();
    if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let meant = u32::from_str_radix(&digits, 8).ok()?;
    let actual = u32::try_from(decimal).ok()?;
    (is_sensible_mode(meant) && !is_sensible_mode(actual)).then_some(meant)
}

/// Checks MachineConfig YAML `text` read from `source_name`. Errors only when the text is not
/// YAML; everything else is a finding in the report.
pub fn check_machine_config(
    text: &str,
    source_name: &str,
    opts: &CheckOptions,
) -> Result<CheckReport, Error> {
    let mut report = CheckReport::default();
    for (doc_index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let doc = Value::deserialize(de).map_err(|e| Error::NotYaml {
            source_name: source_name.to_string(),
            document: doc_index,
            reason: e.to_string(),
        })?;
        if doc.is_null() {
            continue;
        }
        check_document(&doc, doc_index, opts, &mut report);
    }
    if report.files.is_empty() && report.findings.is_empty() {
        report.findings.push(Finding {
            severity: Severity::Error,
            kind: FindingKind::NotAMachineConfig,
            location: source_name.to_string(),
            key: None,
            message: "no MachineConfig in the input".into(),
        });
    }
    Ok(report)
}

fn check_document(doc: &Value, doc_index: usize, opts: &CheckOptions, report: &mut CheckReport) {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("document {doc_index}"));
    let obj = format!("MachineConfig {name}");
    let mut push = |severity, kind, location: String, key: Option<String>, message: String| {
        report.findings.push(Finding {
            severity,
            kind,
            location,
            key,
            message,
        })
    };
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if api != crate::render::API_VERSION || kind != "MachineConfig" {
        push(
            Severity::Error,
            FindingKind::NotAMachineConfig,
            format!("document {doc_index} ({name})"),
            None,
            format!(
                "apiVersion {api:?}, kind {kind:?}: expected {} MachineConfig",
                crate::render::API_VERSION
            ),
        );
        return;
    }
    let Some(config) = doc.pointer("/spec/config") else {
        push(
            Severity::Error,
            FindingKind::Malformed,
            format!("{obj}: spec.config"),
            None,
            "missing: a MachineConfig carries its Ignition config in spec.config".into(),
        );
        return;
    };
    match config.pointer("/ignition/version").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.") => {}
        Some(v) => push(
            Severity::Error,
            FindingKind::IgnitionVersion,
            format!("{obj}: spec.config.ignition.version"),
            None,
            format!("{v:?} is not an Ignition 3.x spec version (use 3.2.0)"),
        ),
        None => push(
            Severity::Error,
            FindingKind::IgnitionVersion,
            format!("{obj}: spec.config.ignition.version"),
            None,
            "missing (use 3.2.0)".into(),
        ),
    }
    let files = match config.pointer("/storage/files") {
        None | Some(Value::Null) => return,
        Some(Value::Array(a)) => a,
        Some(_) => {
            push(
                Severity::Error,
                FindingKind::Malformed,
                format!("{obj}: spec.config.storage.files"),
                None,
                "must be a list".into(),
            );
            return;
        }
    };
    for (i, file) in files.iter().enumerate() {
        let loc = format!("{obj}: spec.config.storage.files[{i}]");
        let path = file.get("path").and_then(Value::as_str).unwrap_or("");
        if path.is_empty() {
            push(
                Severity::Error,
                FindingKind::Malformed,
                format!("{loc}.path"),
                None,
                "missing or not a string".into(),
            );
        }
        if file.get("filesystem").is_some() {
            push(
                Severity::Note,
                FindingKind::Ignition2Field,
                format!("{loc}.filesystem"),
                None,
                "`filesystem` is an Ignition spec 2 field; spec 3 has none (paths are absolute) and ignores it".into(),
            );
        }
        let mode = match file.get("mode") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            // `mode: 0644` is an octal int in YAML 1.1, which is what oc/kubectl speak; the YAML
            // 1.2 reader here keeps it as a string.
            Some(Value::String(t))
                if t.len() > 1
                    && t.starts_with('0')
                    && t.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
            {
                let v = i64::from_str_radix(t, 8).ok();
                if let Some(v) = v {
                    push(
                        Severity::Warning,
                        FindingKind::YamlOctalMode,
                        format!("{loc}.mode"),
                        None,
                        format!(
                            "mode {t} is a YAML 1.1 octal literal: oc and kubectl send {v} (0{v:o}), but YAML 1.2 tools read the string or the decimal {t}; write mode: {v}"
                        ),
                    );
                }
                v
            }
            Some(other) => {
                push(
                    Severity::Error,
                    FindingKind::InvalidMode,
                    format!("{loc}.mode"),
                    None,
                    format!("{other} is not an integer; Ignition wants the mode as a decimal integer (0644 is 420)"),
                );
                None
            }
        };
        if let Some(m) = mode {
            if !(0..=0o7777).contains(&m) {
                push(
                    Severity::Error,
                    FindingKind::InvalidMode,
                    format!("{loc}.mode"),
                    None,
                    format!("{m} is outside 0..=4095 (0o7777)"),
                );
            } else if let Some(meant) = octal_written_as_decimal(m) {
                let actual = u32::try_from(m).unwrap_or(0);
                push(
                    Severity::Error,
                    FindingKind::OctalModeAsDecimal,
                    format!("{loc}.mode"),
                    None,
                    format!(
                        "mode {m} is read as decimal by Ignition: the file gets 0{actual:o} ({}); for 0{meant:o} ({}) write mode: {meant}",
                        mode_string(actual),
                        mode_string(meant)
                    ),
                );
            }
        }
        let contents = decode_file(file, &loc, &mut push);
        let mut checked = CheckedFile {
            machine_config: name.clone(),
            index: i,
            path: path.to_string(),
            mode,
            contents: contents.clone(),
            sysctls: Vec::new(),
        };
        let in_sysctl_dir = SYSCTL_DIRS.iter().any(|d| path.starts_with(d));
        if in_sysctl_dir && !path.ends_with(".conf") {
            push(
                Severity::Warning,
                FindingKind::NotSysctlConf,
                format!("{loc}.path"),
                None,
                format!(
                    "{path}: systemd-sysctl reads only *.conf files; this one is never applied"
                ),
            );
        }
        let is_sysctl = in_sysctl_dir || path == "/etc/sysctl.conf";
        if let (true, Some(text)) = (is_sysctl, contents) {
            let (lines, bad) = parse_sysctl_conf(&text);
            for b in bad {
                push(
                    Severity::Error,
                    FindingKind::InvalidSysctlLine,
                    format!("{loc} ({path}:{})", b.line),
                    None,
                    format!("{:?}: {}", b.text, b.reason),
                );
            }
            let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
            for l in &lines {
                let key = l.key.dotted();
                let lloc = format!("{loc} ({path}:{})", l.line);
                if let Some((prev_line, prev)) = seen.get(&key) {
                    if *prev != l.value {
                        push(
                            Severity::Warning,
                            FindingKind::DuplicateKey,
                            lloc.clone(),
                            Some(key.clone()),
                            format!(
                                "{key} is set to {prev} on line {prev_line} and to {} here; the last one wins",
                                l.value
                            ),
                        );
                    }
                }
                seen.insert(key.clone(), (l.line, l.value.clone()));
                if let Some(why) = catalog::not_in_linux(&l.key) {
                    push(
                        Severity::Error,
                        FindingKind::NotInLinux,
                        lloc,
                        Some(key.clone()),
                        format!("{key} is not a Linux sysctl: {why}"),
                    );
                    continue;
                }
                if let Err(e) = l.key.check_value(&l.value) {
                    push(
                        Severity::Error,
                        FindingKind::InvalidValue,
                        lloc.clone(),
                        Some(key.clone()),
                        e.to_string(),
                    );
                }
                let want = opts.host.then_some(l.value.as_str());
                for f in opts.proc_sys.compare(&l.key, want, opts.host, &lloc) {
                    report_push(&mut push, f);
                }
            }
            checked.sysctls = lines;
        }
        report.files.push(checked);
    }
}

fn report_push(
    push: &mut impl FnMut(Severity, FindingKind, String, Option<String>, String),
    f: Finding,
) {
    push(f.severity, f.kind, f.location, f.key, f.message);
}

/// Decodes `contents` and every `append` entry of an Ignition file; problems become findings.
fn decode_file(
    file: &Value,
    loc: &str,
    push: &mut impl FnMut(Severity, FindingKind, String, Option<String>, String),
) -> Option<String> {
    let mut parts: Vec<(String, &Value)> = Vec::new();
    if let Some(c) = file.get("contents") {
        parts.push((format!("{loc}.contents"), c));
    }
    if let Some(Value::Array(a)) = file.get("append") {
        for (j, c) in a.iter().enumerate() {
            parts.push((format!("{loc}.append[{j}]"), c));
        }
    }
    let mut bytes = Vec::new();
    let mut ok = true;
    for (ploc, c) in parts {
        if let Some(comp) = c.get("compression").and_then(Value::as_str) {
            if !comp.is_empty() {
                push(
                    Severity::Warning,
                    FindingKind::CompressedSource,
                    format!("{ploc}.compression"),
                    None,
                    format!("{comp:?}-compressed contents are not decoded here"),
                );
                ok = false;
                continue;
            }
        }
        let Some(src) = c.get("source").and_then(Value::as_str) else {
            continue; // no source: Ignition writes an empty file
        };
        if src.starts_with("data:") {
            match dataurl::decode(src) {
                Ok(d) => bytes.extend(d.data),
                Err(e) => {
                    push(
                        Severity::Error,
                        FindingKind::UndecodableSource,
                        format!("{ploc}.source"),
                        None,
                        e.to_string(),
                    );
                    ok = false;
                }
            }
        } else {
            let scheme = src.split(':').next().unwrap_or("");
            let remote = matches!(scheme, "http" | "https" | "s3" | "gs" | "tftp" | "arn");
            push(
                if remote {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                if remote {
                    FindingKind::RemoteSource
                } else {
                    FindingKind::UndecodableSource
                },
                format!("{ploc}.source"),
                None,
                if remote {
                    format!("{scheme}: source is fetched by the node at boot; not checked")
                } else {
                    format!(
                        "{:?} is not a URL Ignition can read",
                        src.chars().take(60).collect::<String>()
                    )
                },
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(s) => Some(s),
        Err(_) => {
            push(
                Severity::Warning,
                FindingKind::NotUtf8,
                format!("{loc}.contents"),
                None,
                "the decoded contents are not UTF-8 text".into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_heuristic() {
        assert_eq!(octal_written_as_decimal(644), Some(0o644));
        assert_eq!(octal_written_as_decimal(755), Some(0o755));
        assert_eq!(octal_written_as_decimal(600), Some(0o600));
        assert_eq!(octal_written_as_decimal(400), Some(0o400));
        assert_eq!(octal_written_as_decimal(700), Some(0o700));
        assert_eq!(octal_written_as_decimal(640), Some(0o640));
        // Proper decimal modes are left alone.
        for ok in [420, 493, 384, 436, 416, 448, 511, 292, 365, 0, 7] {
            assert_eq!(octal_written_as_decimal(ok), None, "{ok}");
        }
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(0o644), "rw-r--r--");
        assert_eq!(mode_string(0o1204), "-w----r-T");
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
    }
}
