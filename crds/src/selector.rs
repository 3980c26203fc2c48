//! The one label-selector matcher every kind shares (BGPPeer/BGPAdvertisement/L2Advertisement
//! nodeSelectors, ipAddressPoolSelectors, serviceSelectors, namespaceSelectors, EgressService
//! nodeSelector, NNCP nodeSelector). Raw `metav1.LabelSelector`s are checked once (operator,
//! values, label syntax, duplicates) and turned into [`Selector`]s that can only be evaluated.

use crate::report::Issues;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Labels of an object (node, pool, service, namespace).
pub type Labels = BTreeMap<String, String>;

/// One requirement of a selector; all requirements of a selector must hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requirement {
    /// The label is present and its value is one of the set (`matchLabels` gives a set of one).
    In(String, BTreeSet<String>),
    /// The label is absent, or present with a value outside the set.
    NotIn(String, BTreeSet<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

impl Requirement {
    fn key(&self) -> &str {
        match self {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }

    /// Evaluates the requirement on a label set.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |vs: &BTreeSet<String>| vs.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Requirement::In(k, vs) if vs.len() == 1 => write!(f, "{k}={}", join(vs)),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", join(vs)),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", join(vs)),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
        }
    }
}

/// A validated label selector: the AND of its requirements. No requirement matches everything,
/// as in Kubernetes (`{}` selects all objects).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Builds a selector from requirements (already validated).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort();
        requirements.dedup();
        Selector { requirements }
    }

    /// A selector requiring each given label to have the given value.
    pub fn from_labels(labels: &Labels) -> Self {
        Selector::from_requirements(
            labels
                .iter()
                .map(|(k, v)| Requirement::In(k.clone(), BTreeSet::from([v.clone()])))
                .collect(),
        )
    }

    /// The requirements, sorted.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector has no requirement.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Evaluates the selector on a label set.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when no label set can satisfy both selectors (some key has contradictory
    /// requirements). `false` means "may overlap".
    pub fn provably_disjoint(&self, other: &Selector) -> bool {
        let all: Vec<&Requirement> = self
            .requirements
            .iter()
            .chain(&other.requirements)
            .collect();
        let keys: BTreeSet<&str> = all.iter().map(|r| r.key()).collect();
        keys.into_iter().any(|key| {
            let reqs: Vec<&&Requirement> = all.iter().filter(|r| r.key() == key).collect();
            let must_exist = reqs
                .iter()
                .any(|r| matches!(r, Requirement::In(..) | Requirement::Exists(_)));
            let must_not_exist = reqs
                .iter()
                .any(|r| matches!(r, Requirement::DoesNotExist(_)));
            if must_exist && must_not_exist {
                return true;
            }
            // Intersect every In set, then remove NotIn values: empty means unsatisfiable.
            let mut allowed: Option<BTreeSet<String>> = None;
            for r in &reqs {
                if let Requirement::In(_, vs) = r {
                    allowed = Some(match allowed {
                        None => vs.clone(),
                        Some(a) => a.intersection(vs).cloned().collect(),
                    });
                }
            }
            match allowed {
                Some(mut a) => {
                    for r in &reqs {
                        if let Requirement::NotIn(_, vs) = r {
                            a.retain(|v| !vs.contains(v));
                        }
                    }
                    a.is_empty()
                }
                None => false,
            }
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<everything>");
        }
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// A list of selectors that selects what any of them selects; an empty list selects everything
/// (MetalLB's `nodeSelectors` semantics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AnySelector {
    selectors: Vec<Selector>,
}

impl AnySelector {
    /// Selects everything.
    pub fn everything() -> Self {
        AnySelector::default()
    }

    /// From a list of selectors (empty = everything).
    pub fn new(selectors: Vec<Selector>) -> Self {
        AnySelector { selectors }
    }

    /// The selectors; empty means everything.
    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// True when it selects every object.
    pub fn is_everything(&self) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(Selector::is_everything)
    }

    /// Evaluates on a label set.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(labels))
    }

    /// True when no label set can be selected by both.
    pub fn provably_disjoint(&self, other: &AnySelector) -> bool {
        let mine = self.alternatives();
        let theirs = other.alternatives();
        mine.iter()
            .all(|a| theirs.iter().all(|b| a.provably_disjoint(b)))
    }

    fn alternatives(&self) -> Vec<Selector> {
        if self.selectors.is_empty() {
            vec![Selector::everything()]
        } else {
            self.selectors.clone()
        }
    }
}

/// Checks a label key (`[prefix/]name`) and returns the reason it is invalid.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns_label) {
            return Err(format!(
                "invalid label key {key:?}: prefix must be a DNS subdomain (lowercase letters, digits, '-', '.'; at most 253 characters)"
            ));
        }
    }
    if name.is_empty() {
        return Err(format!(
            "invalid label key {key:?}: name part must not be empty"
        ));
    }
    check_label_value(name).map_err(|_| {
        format!(
            "invalid label key {key:?}: name part must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    })
}

/// Checks a label value and returns the reason it is invalid.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let bytes = value.as_bytes();
    let ok = value.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

fn is_dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Validates one `metav1.LabelSelector` at `field` and returns the evaluable selector, or `None`
/// after recording every problem in `issues`.
pub fn parse_selector(raw: &LabelSelector, field: &str, issues: &mut Issues) -> Option<Selector> {
    let before = issues.errors.len();
    let mut reqs = Vec::new();
    if let Some(ml) = &raw.match_labels {
        for (k, v) in ml {
            let f = format!("{field}.matchLabels[{k}]");
            if let Err(e) = check_label_key(k) {
                issues.error(&f, e);
            }
            if let Err(e) = check_label_value(v) {
                issues.error(&f, e);
            }
            reqs.push(Requirement::In(k.clone(), BTreeSet::from([v.clone()])));
        }
    }
    let mut seen_exprs: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for (i, e) in raw.match_expressions.iter().flatten().enumerate() {
        let f = format!("{field}.matchExpressions[{i}]");
        if let Err(err) = check_label_key(&e.key) {
            issues.error(format!("{f}.key"), err);
        }
        let values = e.values.clone().unwrap_or_default();
        let mut set = BTreeSet::new();
        for (j, v) in values.iter().enumerate() {
            if let Err(err) = check_label_value(v) {
                issues.error(format!("{f}.values[{j}]"), err);
            }
            if !set.insert(v.clone()) {
                issues.error(
                    format!("{f}.values[{j}]"),
                    format!("duplicate value {v:?} in match expression"),
                );
            }
        }
        let sig = (e.key.clone(), e.operator.clone(), set.clone());
        if seen_exprs.contains(&sig) {
            issues.error(&f, format!("duplicate match expression on key {:?}", e.key));
        }
        seen_exprs.push(sig);
        match e.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    issues.error(
                        format!("{f}.values"),
                        format!("operator {} needs at least one value", e.operator),
                    );
                } else if e.operator == "In" {
                    reqs.push(Requirement::In(e.key.clone(), set));
                } else {
                    reqs.push(Requirement::NotIn(e.key.clone(), set));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    issues.error(
                        format!("{f}.values"),
                        format!("operator {} takes no values", e.operator),
                    );
                } else if e.operator == "Exists" {
                    reqs.push(Requirement::Exists(e.key.clone()));
                } else {
                    reqs.push(Requirement::DoesNotExist(e.key.clone()));
                }
            }
            other => issues.error(
                format!("{f}.operator"),
                format!("unknown operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"),
            ),
        }
    }
    (issues.errors.len() == before).then(|| Selector::from_requirements(reqs))
}

/// Validates a list of selectors at `field` (each one, and no duplicates) and returns them as an
/// [`AnySelector`]; `None` after recording problems.
pub fn parse_selectors(
    raw: &[LabelSelector],
    field: &str,
    issues: &mut Issues,
) -> Option<AnySelector> {
    let before = issues.errors.len();
    let mut out: Vec<Selector> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if let Some(sel) = parse_selector(s, &f, issues) {
            if let Some(j) = out.iter().position(|o| *o == sel) {
                issues.error(&f, format!("duplicate of {field}[{j}] ({sel})"));
            }
            out.push(sel);
        }
    }
    (issues.errors.len() == before).then(|| AnySelector::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    fn sel(ml: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> Selector {
        let raw = LabelSelector {
            match_labels: if ml.is_empty() {
                None
            } else {
                Some(labels(ml))
            },
            match_expressions: if exprs.is_empty() { None } else { Some(exprs) },
        };
        let mut issues = Issues::default();
        parse_selector(&raw, "s", &mut issues).expect("valid selector")
    }

    #[test]
    fn evaluates_all_operators() {
        let node = labels(&[("zone", "east"), ("role", "worker")]);
        assert!(sel(&[], vec![]).matches(&node));
        assert!(sel(&[("zone", "east")], vec![]).matches(&node));
        assert!(!sel(&[("zone", "west")], vec![]).matches(&node));
        assert!(sel(&[], vec![expr("zone", "In", &["east", "west"])]).matches(&node));
        assert!(!sel(&[], vec![expr("zone", "NotIn", &["east"])]).matches(&node));
        assert!(sel(&[], vec![expr("rack", "NotIn", &["r1"])]).matches(&node));
        assert!(sel(&[], vec![expr("role", "Exists", &[])]).matches(&node));
        assert!(!sel(&[], vec![expr("role", "DoesNotExist", &[])]).matches(&node));
        assert!(!sel(&[("zone", "east")], vec![expr("rack", "Exists", &[])]).matches(&node));
    }

    #[test]
    fn disjointness_is_conservative() {
        let a = sel(&[("kubernetes.io/hostname", "a")], vec![]);
        let b = sel(&[("kubernetes.io/hostname", "b")], vec![]);
        let any = sel(&[], vec![]);
        let notin_a = sel(&[], vec![expr("kubernetes.io/hostname", "NotIn", &["a"])]);
        let gone = sel(
            &[],
            vec![expr("kubernetes.io/hostname", "DoesNotExist", &[])],
        );
        assert!(a.provably_disjoint(&b));
        assert!(!a.provably_disjoint(&any));
        assert!(a.provably_disjoint(&notin_a));
        assert!(!b.provably_disjoint(&notin_a));
        assert!(a.provably_disjoint(&gone));
        let zone = sel(&[("zone", "east")], vec![]);
        assert!(!a.provably_disjoint(&zone));
        let ab = AnySelector::new(vec![a.clone(), b.clone()]);
        assert!(!ab.provably_disjoint(&AnySelector::new(vec![b.clone()])));
        assert!(AnySelector::new(vec![a]).provably_disjoint(&AnySelector::new(vec![b])));
        assert!(!AnySelector::everything().provably_disjoint(&ab));
    }

    #[test]
    fn rejects_bad_selectors_with_paths() {
        let raw = LabelSelector {
            match_labels: Some(labels(&[("bad key!", "v")])),
            match_expressions: Some(vec![
                expr("zone", "Within", &["a"]),
                expr("zone", "In", &[]),
                expr("zone", "Exists", &["x"]),
            ]),
        };
        let mut issues = Issues::default();
        assert!(parse_selector(&raw, "spec.nodeSelectors[0]", &mut issues).is_none());
        let fields: Vec<&str> = issues.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.nodeSelectors[0].matchLabels[bad key!]",
                "spec.nodeSelectors[0].matchExpressions[0].operator",
                "spec.nodeSelectors[0].matchExpressions[1].values",
                "spec.nodeSelectors[0].matchExpressions[2].values",
            ]
        );
    }
}
