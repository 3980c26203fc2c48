//! Route sets: the routes a caller wants advertised, held once and shared.
//!
//! A [`RouteSet`] is immutable and reference-counted: cloning it is one counter increment, so a
//! caller that announces the same routes to several peers builds the set once and hands a clone
//! to each, and a session keeps "what the peer was sent" as another clone of the set it last
//! synchronised instead of a copy. Inside, each address family is a sorted array of prefixes
//! (5 octets per IPv4 prefix, 17 per IPv6 prefix) plus runs of equal attributes, and every
//! distinct attribute set is stored once (equal values share one `Arc`), so 100,000 host routes
//! with one attribute set take about 0.5 MB (IPv4) or 1.7 MB (IPv6) — a hash map of
//! `IpNet → Arc<PathAttributes>` takes about 4.3 MB.
//!
//! Also here: the walk over the difference between two sets that the session turns into
//! UPDATEs (withdrawals first, then announcements grouped by attributes), with no per-route
//! allocation.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::packet::{Afi, Family, PathAttributes};

/// A run of consecutive prefixes (by index) that share one attribute set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// One past the index of the run's last prefix.
    end: usize,
    /// Index into the set's attribute table.
    attr: usize,
}

/// The routes of one address family: sorted, unique prefixes and the attribute runs covering
/// them (`runs` partitions `0..prefixes.len()` in order; adjacent runs have different
/// attributes).
#[derive(Debug, Clone)]
pub(crate) struct Table<P> {
    prefixes: Vec<P>,
    runs: Vec<Run>,
}

impl<P> Default for Table<P> {
    fn default() -> Self {
        Table {
            prefixes: Vec::new(),
            runs: Vec::new(),
        }
    }
}

impl<P: Copy + Ord> Table<P> {
    fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Appends `p` (greater than every prefix so far) with attribute `attr`.
    fn push_sorted(&mut self, p: P, attr: usize) {
        self.prefixes.push(p);
        let end = self.prefixes.len();
        match self.runs.last_mut() {
            Some(r) if r.attr == attr => r.end = end,
            _ => self.runs.push(Run { end, attr }),
        }
    }

    /// The index of the run holding prefix index `i`.
    fn run_of(&self, i: usize) -> usize {
        self.runs.partition_point(|r| r.end <= i)
    }

    /// The attribute index of prefix `p`, if present.
    fn get(&self, p: &P) -> Option<usize> {
        let i = self.prefixes.binary_search(p).ok()?;
        self.runs.get(self.run_of(i)).map(|r| r.attr)
    }

    /// The index range of run `k`.
    fn run_range(&self, k: usize) -> std::ops::Range<usize> {
        let start = if k == 0 {
            0
        } else {
            self.runs.get(k - 1).map_or(0, |r| r.end)
        };
        let end = self.runs.get(k).map_or(start, |r| r.end);
        start..end
    }

    fn shrink(&mut self) {
        self.prefixes.shrink_to_fit();
        self.runs.shrink_to_fit();
    }
}

#[derive(Default)]
struct Inner {
    /// Distinct attribute sets (by value).
    attrs: Vec<Arc<PathAttributes>>,
    v4: Table<Ipv4Net>,
    v6: Table<Ipv6Net>,
}

/// An immutable set of routes — prefix → path attributes — to advertise, cheap to clone and to
/// share between peers (see the module documentation for its layout).
///
/// Build one with [`RouteSetBuilder`] (fastest when prefixes come in ascending order, e.g. from
/// a `BTreeMap`), by `collect()`ing `(IpNet, Arc<PathAttributes>)` pairs, or from a `HashMap` or
/// `BTreeMap`. A prefix given twice keeps its last attributes, as when collecting into a map.
/// Iteration is in ascending prefix order (IPv4 before IPv6).
#[derive(Clone, Default)]
pub struct RouteSet {
    inner: Arc<Inner>,
}

impl RouteSet {
    /// The empty set.
    pub fn new() -> RouteSet {
        RouteSet::default()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.inner.v4.len() + self.inner.v6.len()
    }

    /// Whether the set holds no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of routes of `family` (0 for a family other than IPv4/IPv6 unicast).
    pub fn family_len(&self, family: Family) -> usize {
        if family == Family::IPV4_UNICAST {
            self.inner.v4.len()
        } else if family == Family::IPV6_UNICAST {
            self.inner.v6.len()
        } else {
            0
        }
    }

    /// Whether both are the same shared set (not merely equal).
    pub fn ptr_eq(a: &RouteSet, b: &RouteSet) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The attributes of `prefix`, if the set holds it.
    pub fn get(&self, prefix: &IpNet) -> Option<&Arc<PathAttributes>> {
        let i = match prefix {
            IpNet::V4(p) => self.inner.v4.get(p)?,
            IpNet::V6(p) => self.inner.v6.get(p)?,
        };
        self.inner.attrs.get(i)
    }

    /// Whether the set holds `prefix`.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    /// The routes in ascending prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Arc<PathAttributes>)> + '_ {
        let attrs = &self.inner.attrs;
        table_iter(&self.inner.v4, attrs)
            .map(|(p, a)| (IpNet::V4(p), a))
            .chain(table_iter(&self.inner.v6, attrs).map(|(p, a)| (IpNet::V6(p), a)))
    }

    /// The first prefix that is not of `family` (sets given for one family must hold none).
    pub fn first_outside(&self, family: Family) -> Option<IpNet> {
        let v4 = (family != Family::IPV4_UNICAST)
            .then(|| self.inner.v4.prefixes.first().copied().map(IpNet::V4))
            .flatten();
        let v6 = (family != Family::IPV6_UNICAST)
            .then(|| self.inner.v6.prefixes.first().copied().map(IpNet::V6))
            .flatten();
        v4.or(v6)
    }

    /// Heap bytes held by the set's route arrays (not the attribute sets), for tests and
    /// benchmarks of the speaker's memory.
    pub fn heap_bytes(&self) -> usize {
        let i = &self.inner;
        i.v4.prefixes.capacity() * std::mem::size_of::<Ipv4Net>()
            + i.v6.prefixes.capacity() * std::mem::size_of::<Ipv6Net>()
            + (i.v4.runs.capacity() + i.v6.runs.capacity()) * std::mem::size_of::<Run>()
            + i.attrs.capacity() * std::mem::size_of::<Arc<PathAttributes>>()
    }

    #[cfg(test)]
    fn attrs(&self) -> &[Arc<PathAttributes>] {
        &self.inner.attrs
    }
}

fn table_iter<'a, P: Copy + Ord>(
    t: &'a Table<P>,
    attrs: &'a [Arc<PathAttributes>],
) -> impl Iterator<Item = (P, &'a Arc<PathAttributes>)> + 'a {
    t.runs.iter().enumerate().flat_map(move |(k, r)| {
        let a = attrs.get(r.attr);
        let range = t.run_range(k);
        t.prefixes
            .get(range)
            .unwrap_or_default()
            .iter()
            .filter_map(move |p| a.map(|a| (*p, a)))
    })
}

impl fmt::Debug for RouteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Equal when both hold the same prefixes with equal attributes.
impl PartialEq for RouteSet {
    fn eq(&self, other: &RouteSet) -> bool {
        RouteSet::ptr_eq(self, other)
            || (self.len() == other.len()
                && self
                    .iter()
                    .zip(other.iter())
                    .all(|((p, a), (q, b))| p == q && (Arc::ptr_eq(a, b) || a == b)))
    }
}

impl Eq for RouteSet {}

/// Routes of one family in the order they came, when they did not come sorted.
struct Unsorted<P> {
    entries: Vec<(P, usize)>,
}

impl<P: Copy + Ord> Unsorted<P> {
    /// Sorts (stable, so the last of equal prefixes is last) and keeps the last of each prefix.
    fn into_table(mut self) -> Table<P> {
        self.entries.sort_by_key(|e| e.0);
        let mut t = Table {
            prefixes: Vec::with_capacity(self.entries.len()),
            runs: Vec::new(),
        };
        let mut it = self.entries.into_iter().peekable();
        while let Some((p, a)) = it.next() {
            if it.peek().is_some_and(|(q, _)| *q == p) {
                continue;
            }
            t.push_sorted(p, a);
        }
        t
    }
}

/// One family's routes while a set is built: sorted as long as the input was.
enum Building<P> {
    Sorted(Table<P>),
    Unsorted(Unsorted<P>),
}

impl<P: Copy + Ord> Default for Building<P> {
    fn default() -> Self {
        Building::Sorted(Table::default())
    }
}

impl<P: Copy + Ord> Building<P> {
    fn push(&mut self, p: P, attr: usize) {
        match self {
            Building::Sorted(t) if t.prefixes.last().is_none_or(|last| *last < p) => {
                t.push_sorted(p, attr)
            }
            Building::Sorted(t) => {
                // Out of order (or a repeated prefix): keep every entry, sort at the end.
                let mut entries = Vec::with_capacity(t.prefixes.len() * 2 + 1);
                for (k, r) in t.runs.iter().enumerate() {
                    let range = t.run_range(k);
                    for q in t.prefixes.get(range).unwrap_or_default() {
                        entries.push((*q, r.attr));
                    }
                }
                entries.push((p, attr));
                *self = Building::Unsorted(Unsorted { entries });
            }
            Building::Unsorted(u) => u.entries.push((p, attr)),
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            Building::Sorted(t) => t.prefixes.reserve(n),
            Building::Unsorted(u) => u.entries.reserve(n),
        }
    }

    fn finish(self) -> Table<P> {
        let mut t = match self {
            Building::Sorted(t) => t,
            Building::Unsorted(u) => u.into_table(),
        };
        t.shrink();
        t
    }
}

/// Builds a [`RouteSet`]. Attribute sets equal in value are stored once, whichever `Arc` (or
/// reference) they came in.
#[derive(Default)]
pub struct RouteSetBuilder {
    attrs: Vec<Arc<PathAttributes>>,
    by_value: HashMap<Arc<PathAttributes>, usize>,
    /// The last attribute set pushed (kept alive, so its pointer cannot be reused).
    last: Option<(Arc<PathAttributes>, usize)>,
    v4: Building<Ipv4Net>,
    v6: Building<Ipv6Net>,
}

impl RouteSetBuilder {
    /// An empty builder.
    pub fn new() -> RouteSetBuilder {
        RouteSetBuilder::default()
    }

    /// An empty builder with room for `n` routes of `family` (a hint only).
    pub fn with_capacity(family: Family, n: usize) -> RouteSetBuilder {
        let mut b = RouteSetBuilder::default();
        if family.afi == Afi::Ipv6 {
            b.v6.reserve(n);
        } else {
            b.v4.reserve(n);
        }
        b
    }

    fn intern(&mut self, attrs: &Arc<PathAttributes>) -> usize {
        if let Some((a, i)) = &self.last {
            if Arc::ptr_eq(a, attrs) {
                return *i;
            }
        }
        let i = match self.by_value.get(attrs.as_ref()) {
            Some(i) => *i,
            None => {
                self.attrs.push(Arc::clone(attrs));
                self.by_value
                    .insert(Arc::clone(attrs), self.attrs.len() - 1);
                self.attrs.len() - 1
            }
        };
        self.last = Some((Arc::clone(attrs), i));
        i
    }

    fn intern_value(&mut self, attrs: &PathAttributes) -> usize {
        if let Some((a, i)) = &self.last {
            if a.as_ref() == attrs {
                return *i;
            }
        }
        let i = match self.by_value.get(attrs) {
            Some(i) => *i,
            None => {
                let a = Arc::new(attrs.clone());
                self.attrs.push(Arc::clone(&a));
                self.by_value.insert(a, self.attrs.len() - 1);
                self.attrs.len() - 1
            }
        };
        if let Some(a) = self.attrs.get(i) {
            self.last = Some((Arc::clone(a), i));
        }
        i
    }

    fn push_index(&mut self, prefix: IpNet, attr: usize) {
        match prefix {
            IpNet::V4(p) => self.v4.push(p, attr),
            IpNet::V6(p) => self.v6.push(p, attr),
        }
    }

    /// Adds a route (replacing an earlier one for the same prefix).
    pub fn push(&mut self, prefix: IpNet, attrs: &Arc<PathAttributes>) {
        let i = self.intern(attrs);
        self.push_index(prefix, i);
    }

    /// Adds a route with attributes given by reference; they are copied only the first time a
    /// value is seen.
    pub fn push_value(&mut self, prefix: IpNet, attrs: &PathAttributes) {
        let i = self.intern_value(attrs);
        self.push_index(prefix, i);
    }

    /// The finished set.
    pub fn build(self) -> RouteSet {
        let mut attrs = self.attrs;
        attrs.shrink_to_fit();
        RouteSet {
            inner: Arc::new(Inner {
                attrs,
                v4: self.v4.finish(),
                v6: self.v6.finish(),
            }),
        }
    }
}

impl FromIterator<(IpNet, Arc<PathAttributes>)> for RouteSet {
    fn from_iter<I: IntoIterator<Item = (IpNet, Arc<PathAttributes>)>>(iter: I) -> RouteSet {
        let mut b = RouteSetBuilder::new();
        for (p, a) in iter {
            b.push(p, &a);
        }
        b.build()
    }
}

impl<'a> FromIterator<(IpNet, &'a PathAttributes)> for RouteSet {
    fn from_iter<I: IntoIterator<Item = (IpNet, &'a PathAttributes)>>(iter: I) -> RouteSet {
        let mut b = RouteSetBuilder::new();
        for (p, a) in iter {
            b.push_value(p, a);
        }
        b.build()
    }
}

impl<S> From<HashMap<IpNet, Arc<PathAttributes>, S>> for RouteSet {
    fn from(map: HashMap<IpNet, Arc<PathAttributes>, S>) -> RouteSet {
        map.into_iter().collect()
    }
}

impl From<BTreeMap<IpNet, Arc<PathAttributes>>> for RouteSet {
    fn from(map: BTreeMap<IpNet, Arc<PathAttributes>>) -> RouteSet {
        map.into_iter().collect()
    }
}

impl From<Vec<(IpNet, Arc<PathAttributes>)>> for RouteSet {
    fn from(v: Vec<(IpNet, Arc<PathAttributes>)>) -> RouteSet {
        v.into_iter().collect()
    }
}

/// Where [`for_each_change`] reports the difference.
pub(crate) trait ChangeSink {
    /// Error that stops the walk.
    type Error;
    /// `prefix` must be withdrawn. All withdrawals come before any announcement.
    fn withdraw(&mut self, prefix: IpNet) -> Result<(), Self::Error>;
    /// The following announcements carry `attrs` (each distinct attribute set once, in the
    /// order of its first changed prefix).
    fn group(&mut self, attrs: &Arc<PathAttributes>) -> Result<(), Self::Error>;
    /// `prefix` must be announced with the attributes of the last [`ChangeSink::group`].
    fn announce(&mut self, prefix: IpNet) -> Result<(), Self::Error>;
}

/// Reports what turns a peer that holds `old` into one that holds `new`, for `family`: the
/// prefixes of `old` missing from `new` as withdrawals, then the prefixes of `new` that `old`
/// lacks or holds with other attributes as announcements grouped by attributes, each group in
/// ascending prefix order. With `full` every route of `new` is announced and nothing withdrawn
/// (a ROUTE-REFRESH answer). No allocation per route.
pub(crate) fn for_each_change<S: ChangeSink>(
    new: &RouteSet,
    old: &RouteSet,
    family: Family,
    full: bool,
    sink: &mut S,
) -> Result<(), S::Error> {
    if !full && RouteSet::ptr_eq(new, old) {
        return Ok(());
    }
    let (n, o) = (&new.inner, &old.inner);
    if family == Family::IPV4_UNICAST {
        walk(&n.v4, &n.attrs, &o.v4, &o.attrs, full, sink, IpNet::V4)
    } else if family == Family::IPV6_UNICAST {
        walk(&n.v6, &n.attrs, &o.v6, &o.attrs, full, sink, IpNet::V6)
    } else {
        Ok(())
    }
}

/// Whether attribute `a` of the new set equals attribute `b` of the old one, remembering the
/// last pair asked (routes come in runs, so the same pair is asked many times in a row).
struct AttrEq<'a> {
    new: &'a [Arc<PathAttributes>],
    old: &'a [Arc<PathAttributes>],
    last: Option<(usize, usize, bool)>,
}

impl AttrEq<'_> {
    fn eq(&mut self, a: usize, b: usize) -> bool {
        if let Some((x, y, r)) = self.last {
            if x == a && y == b {
                return r;
            }
        }
        let r = match (self.new.get(a), self.old.get(b)) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
            _ => false,
        };
        self.last = Some((a, b, r));
        r
    }
}

/// A forward cursor over a table: finds prefixes in ascending order, with their attributes.
struct Cursor<'a, P> {
    t: &'a Table<P>,
    i: usize,
    run: usize,
}

impl<'a, P: Copy + Ord> Cursor<'a, P> {
    fn new(t: &'a Table<P>) -> Self {
        Cursor { t, i: 0, run: 0 }
    }

    /// Moves to the first prefix >= `p` (jumping by binary search when far ahead).
    fn seek(&mut self, p: &P) {
        let rest = self.t.prefixes.get(self.i..).unwrap_or_default();
        match rest.first() {
            Some(q) if q < p => {
                // Short steps first: runs of changes are usually dense.
                let near = rest.iter().take(8).position(|q| q >= p);
                self.i += match near {
                    Some(k) => k,
                    None => rest.partition_point(|q| q < p),
                };
            }
            _ => {}
        }
    }

    /// The attribute index of `p` if the table holds it (moving forward to it).
    fn find(&mut self, p: &P) -> Option<usize> {
        self.seek(p);
        if self.t.prefixes.get(self.i) != Some(p) {
            return None;
        }
        // The run cursor only moves forward: one step usually, a binary search after a jump.
        if self.t.runs.get(self.run).is_some_and(|r| r.end <= self.i) {
            self.run += 1;
            if self.t.runs.get(self.run).is_some_and(|r| r.end <= self.i) {
                self.run = self.t.run_of(self.i);
            }
        }
        self.t.runs.get(self.run).map(|r| r.attr)
    }
}

/// "None" in the run links of [`walk`].
const NONE: usize = usize::MAX;

fn walk<P: Copy + Ord, S: ChangeSink>(
    new: &Table<P>,
    new_attrs: &[Arc<PathAttributes>],
    old: &Table<P>,
    old_attrs: &[Arc<PathAttributes>],
    full: bool,
    sink: &mut S,
    wrap: fn(P) -> IpNet,
) -> Result<(), S::Error> {
    // Withdrawals: prefixes of `old` that `new` lacks.
    if !full {
        let mut c = Cursor::new(new);
        for p in &old.prefixes {
            c.seek(p);
            if new.prefixes.get(c.i) != Some(p) {
                sink.withdraw(wrap(*p))?;
            }
        }
    }
    let mut same = AttrEq {
        new: new_attrs,
        old: old_attrs,
        last: None,
    };
    let changed = |same: &mut AttrEq, cur: &mut Cursor<P>, p: &P, a: usize| -> bool {
        full || cur.find(p).is_none_or(|b| !same.eq(a, b))
    };
    // The runs with a change, linked per attribute set, and the attribute sets in the order of
    // their first changed run.
    let mut order: Vec<usize> = Vec::new();
    let mut first = vec![NONE; new_attrs.len()];
    let mut last = vec![NONE; new_attrs.len()];
    let mut next = vec![NONE; new.runs.len()];
    let mut cur = Cursor::new(old);
    for (k, r) in new.runs.iter().enumerate() {
        let prefixes = new.prefixes.get(new.run_range(k)).unwrap_or_default();
        if !prefixes
            .iter()
            .any(|p| changed(&mut same, &mut cur, p, r.attr))
        {
            continue;
        }
        match last.get(r.attr).copied() {
            Some(NONE) => {
                order.push(r.attr);
                if let Some(f) = first.get_mut(r.attr) {
                    *f = k;
                }
            }
            Some(prev) => {
                if let Some(n) = next.get_mut(prev) {
                    *n = k;
                }
            }
            None => continue,
        }
        if let Some(l) = last.get_mut(r.attr) {
            *l = k;
        }
    }
    for g in order {
        let Some(attrs) = new_attrs.get(g) else {
            continue;
        };
        sink.group(attrs)?;
        let mut cur = Cursor::new(old);
        let mut k = first.get(g).copied().unwrap_or(NONE);
        while k != NONE {
            for p in new.prefixes.get(new.run_range(k)).unwrap_or_default() {
                if changed(&mut same, &mut cur, p, g) {
                    sink.announce(wrap(*p))?;
                }
            }
            k = next.get(k).copied().unwrap_or(NONE);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Building (sorted, unsorted, repeated prefixes, interning) and the change walk against a
    //! straightforward map-based reference.

    use super::*;
    use crate::packet::{AsPath, Community};

    fn attrs(tag: u32) -> Arc<PathAttributes> {
        Arc::new(PathAttributes {
            as_path: AsPath::from_sequence([64500]),
            communities: vec![Community(tag)],
            ..PathAttributes::default()
        })
    }

    fn v4(i: u32) -> IpNet {
        IpNet::V4(Ipv4Net::new(std::net::Ipv4Addr::from(0xC612_0000 + i), 32).unwrap())
    }

    fn v6(i: u32) -> IpNet {
        IpNet::V6(
            Ipv6Net::new(
                std::net::Ipv6Addr::from(
                    0x2001_0db8_0100_0000_0000_0000_0000_0000u128 + u128::from(i),
                ),
                128,
            )
            .unwrap(),
        )
    }

    #[derive(Default)]
    struct Log {
        withdrawn: Vec<IpNet>,
        groups: Vec<(PathAttributes, Vec<IpNet>)>,
    }

    impl ChangeSink for Log {
        type Error = ();
        fn withdraw(&mut self, p: IpNet) -> Result<(), ()> {
            assert!(self.groups.is_empty(), "withdrawal after an announcement");
            self.withdrawn.push(p);
            Ok(())
        }
        fn group(&mut self, a: &Arc<PathAttributes>) -> Result<(), ()> {
            self.groups.push(((**a).clone(), Vec::new()));
            Ok(())
        }
        fn announce(&mut self, p: IpNet) -> Result<(), ()> {
            self.groups.last_mut().unwrap().1.push(p);
            Ok(())
        }
    }

    fn changes(new: &RouteSet, old: &RouteSet, family: Family, full: bool) -> Log {
        let mut log = Log::default();
        for_each_change(new, old, family, full, &mut log).unwrap();
        log
    }

    /// The reference: the difference computed with maps.
    fn reference(
        new: &BTreeMap<IpNet, Arc<PathAttributes>>,
        old: &BTreeMap<IpNet, Arc<PathAttributes>>,
        family: Family,
    ) -> (Vec<IpNet>, Vec<(PathAttributes, Vec<IpNet>)>) {
        let fam = |p: &IpNet| crate::config::family_of(p) == family;
        let withdrawn = old
            .keys()
            .filter(|p| fam(p) && !new.contains_key(p))
            .copied()
            .collect();
        let mut groups: Vec<(PathAttributes, Vec<IpNet>)> = Vec::new();
        for (p, a) in new.iter().filter(|(p, _)| fam(p)) {
            if old.get(p).is_some_and(|b| **b == **a) {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == **a) {
                Some(g) => g.1.push(*p),
                None => groups.push(((**a).clone(), vec![*p])),
            }
        }
        (withdrawn, groups)
    }

    #[test]
    fn sorted_and_unsorted_input_give_the_same_set_and_the_last_duplicate_wins() {
        let a = attrs(1);
        let b = attrs(2);
        let sorted: RouteSet = (0..100).map(|i| (v4(i), a.clone())).collect();
        let unsorted: RouteSet = (0..100)
            .rev()
            .map(|i| (v4(i), a.clone()))
            .chain([(v4(5), b.clone()), (v4(7), b.clone()), (v4(5), a.clone())])
            .collect();
        assert_eq!(sorted.len(), 100);
        assert_eq!(unsorted.len(), 100);
        assert_eq!(unsorted.get(&v4(7)).map(|x| **x == *b), Some(true));
        assert_eq!(unsorted.get(&v4(5)).map(|x| **x == *a), Some(true));
        assert_ne!(sorted, unsorted);
        let keys: Vec<IpNet> = unsorted.iter().map(|(p, _)| p).collect();
        assert_eq!(keys, (0..100).map(v4).collect::<Vec<_>>());
        // A repeated prefix in otherwise sorted input.
        let rep: RouteSet = [(v4(1), a.clone()), (v4(1), b.clone()), (v4(2), a.clone())]
            .into_iter()
            .collect();
        assert_eq!(rep.len(), 2);
        assert_eq!(rep.get(&v4(1)).map(|x| **x == *b), Some(true));
        assert!(rep.get(&v4(3)).is_none());
    }

    #[test]
    fn equal_attributes_are_stored_once() {
        let set: RouteSet = (0..1000)
            .map(|i| (v4(i), attrs(i % 3)))
            .chain((0..10).map(|i| (v6(i), attrs(1))))
            .collect();
        assert_eq!(set.attrs().len(), 3);
        assert_eq!(set.family_len(Family::IPV4_UNICAST), 1000);
        assert_eq!(set.family_len(Family::IPV6_UNICAST), 10);
        assert_eq!(set.first_outside(Family::IPV4_UNICAST), Some(v6(0)));
        assert_eq!(set.first_outside(Family::IPV6_UNICAST), Some(v4(0)));
        let by_ref: RouteSet = (0..1000)
            .map(|i| (v4(i), attrs(i % 3)))
            .collect::<Vec<_>>()
            .iter()
            .map(|(p, a)| (*p, a.as_ref()))
            .collect();
        assert_eq!(by_ref.attrs().len(), 3);
    }

    #[test]
    fn per_route_memory_is_a_few_octets() {
        let a = attrs(1);
        let mut b = RouteSetBuilder::with_capacity(Family::IPV4_UNICAST, 100_000);
        for i in 0..100_000 {
            b.push(v4(i), &a);
        }
        let set = b.build();
        assert!(set.heap_bytes() < 100_000 * 6, "{}", set.heap_bytes());
        let set6: RouteSet = (0..100_000).map(|i| (v6(i), a.clone())).collect();
        assert!(set6.heap_bytes() < 100_000 * 18, "{}", set6.heap_bytes());
    }

    #[test]
    fn change_walk_matches_the_map_reference() {
        // Deterministic pseudo-random sets over a small prefix space and three attribute sets.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pool = [attrs(1), attrs(2), attrs(3)];
        for round in 0..200 {
            let mut new = BTreeMap::new();
            let mut old = BTreeMap::new();
            for i in 0..64u32 {
                let r = next();
                let p = if r & 1 == 0 { v4(i) } else { v6(i) };
                if r & 6 != 0 {
                    // Equal values in different Arcs on the old side.
                    old.insert(p, attrs((r >> 8) as u32 % 3 + 1));
                }
                if r & 24 != 0 {
                    new.insert(p, pool[(r >> 16) as usize % 3].clone());
                }
            }
            let ns: RouteSet = new.clone().into();
            let os: RouteSet = old.clone().into();
            for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
                let got = changes(&ns, &os, family, false);
                let (w, g) = reference(&new, &old, family);
                assert_eq!(got.withdrawn, w, "round {round}");
                assert_eq!(got.groups, g, "round {round}");
                let all = changes(&ns, &os, family, true);
                let (_, g) = reference(&new, &BTreeMap::new(), family);
                assert!(all.withdrawn.is_empty());
                assert_eq!(all.groups, g, "round {round} full");
            }
            let none = changes(&ns, &ns.clone(), Family::IPV4_UNICAST, false);
            assert!(none.withdrawn.is_empty() && none.groups.is_empty());
        }
    }
}
