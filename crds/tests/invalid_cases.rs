//! Table-driven invalid objects: each case asserts the object is invalid and that one of its
//! errors has exactly the expected field path and a reason containing the expected text (and is
//! transient when marked so).

mod common;
use common::*;

struct Case {
    name: &'static str,
    yaml: String,
    kind: &'static str,
    object: &'static str,
    field: &'static str,
    reason: &'static str,
    transient: bool,
}

fn case(
    name: &'static str,
    yaml: String,
    kind: &'static str,
    object: &'static str,
    field: &'static str,
    reason: &'static str,
) -> Case {
    Case {
        name,
        yaml,
        kind,
        object,
        field,
        reason,
        transient: false,
    }
}

fn transient(mut c: Case) -> Case {
    c.transient = true;
    c
}

const SECRET_OK: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp-pass\n  namespace: metallb-system\ntype: kubernetes.io/basic-auth\nstringData:\n  password: s3cret\n---\n";

fn peer_cases() -> Vec<Case> {
    let p = |spec: &str| peer("p", spec);
    vec![
        case("myASN zero", p("myASN: 0\npeerASN: 64501\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.myASN", "must be set to a non-zero AS number"),
        case("myASN too big", p("myASN: 4294967296\npeerASN: 64501\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.myASN", "4294967296 is not an AS number"),
        case("myASN negative", p("myASN: -1\npeerASN: 64501\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.myASN", "-1 is not an AS number"),
        case("peerASN and dynamicASN", p("myASN: 64500\npeerASN: 64501\ndynamicASN: external\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.dynamicASN", "mutually exclusive"),
        case("no peer AS", p("myASN: 64500\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.peerASN", "one of spec.peerASN or spec.dynamicASN must be set"),
        case("bad dynamicASN", p("myASN: 64500\ndynamicASN: sideways\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.dynamicASN", "\"sideways\" is not one of internal, external"),
        case("peerASN too big", p("myASN: 64500\npeerASN: 4294967296\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.peerASN", "not an AS number"),
        case("localASN zero", p(&peer_ok("localASN: 0")), "BGPPeer", "p", "spec.localASN", "0 is not an AS number in 1..4294967295"),
        case("address and interface", p(&peer_ok("interface: eth1")), "BGPPeer", "p", "spec.interface", "spec.peerAddress and spec.interface are mutually exclusive"),
        case("no address nor interface", p("myASN: 64500\npeerASN: 64501"), "BGPPeer", "p", "spec.peerAddress", "one of spec.peerAddress or spec.interface must be set"),
        case("bad address", p("myASN: 64500\npeerASN: 64501\npeerAddress: 192.0.2.300"), "BGPPeer", "p", "spec.peerAddress", "\"192.0.2.300\" is not an IP address"),
        case("bad interface", p("myASN: 64500\npeerASN: 64501\ninterface: this-name-is-too-long"), "BGPPeer", "p", "spec.interface", "is not an interface name"),
        case("bad source", p(&peer_ok("sourceAddress: here")), "BGPPeer", "p", "spec.sourceAddress", "\"here\" is not an IP address"),
        case("source family", p(&peer_ok("sourceAddress: 2001:db8::1")), "BGPPeer", "p", "spec.sourceAddress", "not of the same IP family as spec.peerAddress"),
        case("port zero", p(&peer_ok("peerPort: 0")), "BGPPeer", "p", "spec.peerPort", "0 is out of range 1..16384"),
        case("port too big", p(&peer_ok("peerPort: 20000")), "BGPPeer", "p", "spec.peerPort", "20000 is out of range 1..16384"),
        case("hold 2s", p(&peer_ok("holdTime: 2s")), "BGPPeer", "p", "spec.holdTime", "2s must be 0 or at least 3s"),
        case("hold no unit", p(&peer_ok("holdTime: \"10\"")), "BGPPeer", "p", "spec.holdTime", "missing unit"),
        case("hold unknown unit", p(&peer_ok("holdTime: 3d")), "BGPPeer", "p", "spec.holdTime", "unknown unit \"d\""),
        case("hold negative", p(&peer_ok("holdTime: -3s")), "BGPPeer", "p", "spec.holdTime", "must not be negative"),
        case("hold too long", p(&peer_ok("holdTime: 70000s")), "BGPPeer", "p", "spec.holdTime", "must be at most 65535s"),
        case("keepalive over hold", p(&peer_ok("holdTime: 9s\nkeepaliveTime: 30s")), "BGPPeer", "p", "spec.keepaliveTime", "30s must not exceed spec.holdTime (9s)"),
        case("keepalive derives short hold", p(&peer_ok("keepaliveTime: 500ms")), "BGPPeer", "p", "spec.keepaliveTime", "derived spec.holdTime of 1.5s"),
        case("connect fractional", p(&peer_ok("connectTime: 1500ms")), "BGPPeer", "p", "spec.connectTime", "must be a whole number of seconds"),
        case("connect zero", p(&peer_ok("connectTime: 0s")), "BGPPeer", "p", "spec.connectTime", "must be between 1s and 65535s"),
        case("connect too long", p(&peer_ok("connectTime: 70000s")), "BGPPeer", "p", "spec.connectTime", "must be between 1s and 65535s"),
        case("connect syntax", p(&peer_ok("connectTime: soon")), "BGPPeer", "p", "spec.connectTime", "invalid duration \"soon\""),
        case("router id v6", p(&peer_ok("routerID: 2001:db8::1")), "BGPPeer", "p", "spec.routerID", "must be an IPv4 address"),
        case("router id garbage", p(&peer_ok("routerID: router-1")), "BGPPeer", "p", "spec.routerID", "\"router-1\" is not an IPv4 address"),
        case("password and secret", format!("{SECRET_OK}{}", p(&peer_ok("password: x\npasswordSecret:\n  name: bgp-pass"))), "BGPPeer", "p", "spec.passwordSecret", "spec.password and spec.passwordSecret are mutually exclusive"),
        transient(case("secret missing", p(&peer_ok("passwordSecret:\n  name: nope")), "BGPPeer", "p", "spec.passwordSecret", "Secret metallb-system/nope does not exist")),
        case(
            "secret wrong type",
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: metallb-system\nstringData:\n  password: x\n---\n{}", p(&peer_ok("passwordSecret:\n  name: s"))),
            "BGPPeer", "p", "spec.passwordSecret", "must be of type kubernetes.io/basic-auth",
        ),
        case(
            "secret without password",
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: metallb-system\ntype: kubernetes.io/basic-auth\nstringData:\n  username: x\n---\n{}", p(&peer_ok("passwordSecret:\n  name: s"))),
            "BGPPeer", "p", "spec.passwordSecret", "has no key \"password\"",
        ),
        case("secret elsewhere", p(&peer_ok("passwordSecret:\n  name: s\n  namespace: default")), "BGPPeer", "p", "spec.passwordSecret.namespace", "must be in MetalLB's namespace metallb-system"),
        case("password too long", p(&peer_ok(&format!("password: {}", "x".repeat(81)))), "BGPPeer", "p", "spec.password", "TCP MD5 keys are at most 80 bytes"),
        transient(case("bfd profile missing", p(&peer_ok("bfdProfile: fast")), "BGPPeer", "p", "spec.bfdProfile", "BFDProfile fast does not exist")),
        transient(case(
            "bfd profile invalid",
            format!("{}{}", metallb("metallb.io/v1beta1", "BFDProfile", "fast", "receiveInterval: 1"), p(&peer_ok("bfdProfile: fast"))),
            "BGPPeer", "p", "spec.bfdProfile", "BFDProfile fast is invalid",
        )),
        case("multihop ibgp", p("myASN: 64500\npeerASN: 64500\npeerAddress: 192.0.2.1\nebgpMultiHop: true"), "BGPPeer", "p", "spec.ebgpMultiHop", "must not be set for an iBGP peer"),
        case("multihop dynamic internal", p("myASN: 64500\ndynamicASN: internal\npeerAddress: 192.0.2.1\nebgpMultiHop: true"), "BGPPeer", "p", "spec.ebgpMultiHop", "iBGP"),
        case("bad vrf", p(&peer_ok("vrf: red/blue")), "BGPPeer", "p", "spec.vrf", "is not an interface name"),
        case("selector operator", p(&peer_ok("nodeSelectors:\n- matchExpressions:\n  - {key: zone, operator: Near, values: [a]}")), "BGPPeer", "p", "spec.nodeSelectors[0].matchExpressions[0].operator", "unknown operator \"Near\""),
        case("selector In without values", p(&peer_ok("nodeSelectors:\n- matchExpressions:\n  - {key: zone, operator: In}")), "BGPPeer", "p", "spec.nodeSelectors[0].matchExpressions[0].values", "operator In needs at least one value"),
        case("selector Exists with values", p(&peer_ok("nodeSelectors:\n- matchExpressions:\n  - {key: zone, operator: Exists, values: [a]}")), "BGPPeer", "p", "spec.nodeSelectors[0].matchExpressions[0].values", "operator Exists takes no values"),
        case("selector duplicate", p(&peer_ok("nodeSelectors:\n- matchLabels: {zone: a}\n- matchLabels: {zone: a}")), "BGPPeer", "p", "spec.nodeSelectors[1]", "duplicate of spec.nodeSelectors[0]"),
        case("selector bad key", p(&peer_ok("nodeSelectors:\n- matchLabels: {\"-zone\": a}")), "BGPPeer", "p", "spec.nodeSelectors[0].matchLabels[-zone]", "invalid label key"),
        case("type error", p("myASN: 64500\npeerASN: many\npeerAddress: 192.0.2.1"), "BGPPeer", "p", "spec.peerASN", "invalid type: string \"many\""),
        case(
            "wrong namespace",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: p\n  namespace: default\nspec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 192.0.2.1\n".to_string(),
            "BGPPeer", "p", "metadata.namespace", "MetalLB reads BGPPeer objects only from namespace metallb-system (got default)",
        ),
        case(
            "v1beta1 converted",
            "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata:\n  name: p\n  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 192.0.2.1\n  holdTime: 1s\n".to_string(),
            "BGPPeer", "p", "spec.holdTime", "1s must be 0 or at least 3s",
        ),
    ]
}

fn peer_cross_cases() -> Vec<Case> {
    let n1 = node("n1", &[("zone", "a")]);
    vec![
        case(
            "duplicate address on a node",
            format!("{n1}{}{}", peer("a", &peer_ok("")), peer("b", "myASN: 64500\npeerASN: 64502\npeerAddress: 192.0.2.1")),
            "BGPPeer", "b", "spec.peerAddress", "192.0.2.1 in the default VRF is already the peer of BGPPeer a; one session per address and VRF on a node (both select node n1)",
        ),
        case(
            "duplicate interface in a vrf",
            format!("{n1}{}{}", peer("a", "myASN: 64500\npeerASN: 64501\ninterface: eth1\nvrf: red"), peer("b", "myASN: 64500\npeerASN: 64502\ninterface: eth1\nvrf: red")),
            "BGPPeer", "b", "spec.interface", "interface eth1 in VRF red is already the peer of BGPPeer a",
        ),
        case(
            "router id differs",
            format!("{n1}{}{}", peer("a", &peer_ok("routerID: 192.0.2.10")), peer("b", "myASN: 64500\npeerASN: 64501\npeerAddress: 192.0.2.2\nrouterID: 192.0.2.11")),
            "BGPPeer", "b", "spec.routerID", "192.0.2.11 differs from BGPPeer a (192.0.2.10)",
        ),
        case(
            "myASN differs in a VRF",
            format!("{n1}{}{}", peer("a", &peer_ok("")), peer("b", "myASN: 64510\npeerASN: 64501\npeerAddress: 192.0.2.2")),
            "BGPPeer", "b", "spec.myASN", "64510 differs from BGPPeer a (64500) in the default VRF; peers reaching the same node must use one myASN per VRF",
        ),
        case(
            "echo mode with IPv6 pool",
            format!(
                "{}{}{}{}",
                metallb("metallb.io/v1beta1", "BFDProfile", "echo", "echoMode: true"),
                peer("a", &peer_ok("bfdProfile: echo")),
                pool("v6", &["2001:db8::/120"]),
                bgp_adv("adv", "ipAddressPools: [v6]")
            ),
            "BGPPeer", "a", "spec.bfdProfile", "BFDProfile echo enables echoMode, but BGPAdvertisement adv sends IPv6 addresses of IPAddressPool v6",
        ),
    ]
}

fn pool_cases() -> Vec<Case> {
    let sa = |body: &str| {
        metallb(
            "metallb.io/v1beta1",
            "IPAddressPool",
            "p",
            &format!(
                "addresses: [192.0.2.0/24]\nserviceAllocation:\n{}",
                indent(body, 2)
            ),
        )
    };
    vec![
        case(
            "no addresses",
            metallb("metallb.io/v1beta1", "IPAddressPool", "p", "addresses: []"),
            "IPAddressPool",
            "p",
            "spec.addresses",
            "must list at least one CIDR or start-end range",
        ),
        case(
            "bad cidr",
            pool("p", &["192.0.2.0/33"]),
            "IPAddressPool",
            "p",
            "spec.addresses[0]",
            "invalid CIDR \"192.0.2.0/33\"",
        ),
        case(
            "reversed range",
            pool("p", &["192.0.2.20-192.0.2.10"]),
            "IPAddressPool",
            "p",
            "spec.addresses[0]",
            "start 192.0.2.20 is after end 192.0.2.10",
        ),
        case(
            "mixed range",
            pool("p", &["192.0.2.1-2001:db8::1"]),
            "IPAddressPool",
            "p",
            "spec.addresses[0]",
            "start and end are of different IP families",
        ),
        case(
            "bad range start",
            pool("p", &["192.0.2-192.0.2.9"]),
            "IPAddressPool",
            "p",
            "spec.addresses[0]",
            "start \"192.0.2\" is not an IP address",
        ),
        case(
            "overlap within",
            pool("p", &["192.0.2.0/24", "192.0.2.128-192.0.2.130"]),
            "IPAddressPool",
            "p",
            "spec.addresses[1]",
            "overlaps spec.addresses[0] (192.0.2.0/24)",
        ),
        case(
            "overlap across",
            format!(
                "{}{}",
                pool("a", &["192.0.2.0/25"]),
                pool("b", &["198.51.100.0/24", "192.0.2.100/32"])
            ),
            "IPAddressPool",
            "b",
            "spec.addresses[1]",
            "192.0.2.100/32 overlaps 192.0.2.0/25 of IPAddressPool a",
        ),
        case(
            "duplicate namespace",
            sa("namespaces: [a, b, a]"),
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.namespaces[2]",
            "duplicate namespace \"a\"",
        ),
        case(
            "duplicate service selector",
            sa("serviceSelectors:\n- matchLabels: {app: x}\n- matchLabels: {app: x}"),
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.serviceSelectors[1]",
            "duplicate of spec.serviceAllocation.serviceSelectors[0]",
        ),
        case(
            "bad namespace selector",
            sa("namespaceSelectors:\n- matchExpressions:\n  - {key: team, operator: Has}"),
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].operator",
            "unknown operator",
        ),
    ]
}

fn bfd_cases() -> Vec<Case> {
    let b = |spec: &str| metallb("metallb.io/v1beta1", "BFDProfile", "b", spec);
    vec![
        case(
            "rx too small",
            b("receiveInterval: 5"),
            "BFDProfile",
            "b",
            "spec.receiveInterval",
            "5 is out of range 10..60000 ms",
        ),
        case(
            "tx too big",
            b("transmitInterval: 60001"),
            "BFDProfile",
            "b",
            "spec.transmitInterval",
            "60001 is out of range 10..60000 ms",
        ),
        case(
            "multiplier 1",
            b("detectMultiplier: 1"),
            "BFDProfile",
            "b",
            "spec.detectMultiplier",
            "1 is out of range 2..255",
        ),
        case(
            "multiplier 256",
            b("detectMultiplier: 256"),
            "BFDProfile",
            "b",
            "spec.detectMultiplier",
            "256 is out of range 2..255",
        ),
        case(
            "echo interval",
            b("echoInterval: 9"),
            "BFDProfile",
            "b",
            "spec.echoInterval",
            "9 is out of range 10..60000 ms",
        ),
        case(
            "min ttl 255",
            b("minimumTtl: 255"),
            "BFDProfile",
            "b",
            "spec.minimumTtl",
            "255 is out of range 1..254",
        ),
        case(
            "min ttl 0",
            b("minimumTtl: 0"),
            "BFDProfile",
            "b",
            "spec.minimumTtl",
            "0 is out of range 1..254",
        ),
    ]
}

fn adv_cases() -> Vec<Case> {
    let p30 = pool("p", &["203.0.113.200/30", "2001:db8::/124"]);
    let a = |spec: &str| format!("{p30}{}", bgp_adv("a", spec));
    let n1 = node("n1", &[("zone", "a")]);
    vec![
        case(
            "aggregation 33",
            a("aggregationLength: 33"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLength",
            "33 is out of range 1..32",
        ),
        case(
            "aggregation 0",
            a("aggregationLength: 0"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLength",
            "0 is out of range 1..32",
        ),
        case(
            "aggregation v6 129",
            a("aggregationLengthV6: 129"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLengthV6",
            "129 is out of range 0..128",
        ),
        case(
            "aggregation wider than pool",
            a("ipAddressPools: [p]\naggregationLength: 24"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLength",
            "24 is shorter than /30, the widest prefix of 203.0.113.200/30 in IPAddressPool p",
        ),
        case(
            "aggregation v6 wider than pool",
            a("aggregationLengthV6: 64"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLengthV6",
            "64 is shorter than /124",
        ),
        case(
            "community 16-bit",
            a("communities: [\"65536:1\"]"),
            "BGPAdvertisement",
            "a",
            "spec.communities[0]",
            "\"65536\" is not a 16-bit number",
        ),
        case(
            "large community 32-bit",
            a("communities: [\"large:1:2:99999999999\"]"),
            "BGPAdvertisement",
            "a",
            "spec.communities[0]",
            "is not a 32-bit number",
        ),
        case(
            "large community marker",
            a("communities: [\"huge:1:2:3\"]"),
            "BGPAdvertisement",
            "a",
            "spec.communities[0]",
            "expected large:<uint32>:<uint32>:<uint32>",
        ),
        transient(case(
            "unknown alias",
            a("communities: [gold]"),
            "BGPAdvertisement",
            "a",
            "spec.communities[0]",
            "\"gold\" is neither a community value",
        )),
        case(
            "duplicate community",
            a("communities: [\"8000:800\", \"8000:800\"]"),
            "BGPAdvertisement",
            "a",
            "spec.communities[1]",
            "duplicate community \"8000:800\" (also spec.communities[0])",
        ),
        case(
            "duplicate pool",
            a("ipAddressPools: [p, p]"),
            "BGPAdvertisement",
            "a",
            "spec.ipAddressPools[1]",
            "duplicate pool \"p\"",
        ),
        case(
            "duplicate peer",
            a("peers: [x, x]"),
            "BGPAdvertisement",
            "a",
            "spec.peers[1]",
            "duplicate peer \"x\"",
        ),
        case(
            "service selectors with aggregation",
            a("aggregationLength: 31\nserviceSelectors:\n- matchLabels: {app: x}"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLength",
            "31 cannot be combined with spec.serviceSelectors",
        ),
        case(
            "service selectors with v6 aggregation",
            a("aggregationLengthV6: 126\nserviceSelectors:\n- matchLabels: {app: x}"),
            "BGPAdvertisement",
            "a",
            "spec.aggregationLengthV6",
            "126 cannot be combined with spec.serviceSelectors",
        ),
        case(
            "localPref negative",
            a("localPref: -1"),
            "BGPAdvertisement",
            "a",
            "spec.localPref",
            "-1 is out of range 0..4294967295",
        ),
        case(
            "bad node selector",
            a("nodeSelectors:\n- matchLabels: {zone: \"a b\"}"),
            "BGPAdvertisement",
            "a",
            "spec.nodeSelectors[0].matchLabels[zone]",
            "invalid label value \"a b\"",
        ),
        case(
            "bad pool selector",
            a("ipAddressPoolSelectors:\n- matchExpressions:\n  - {key: zone, operator: NotIn}"),
            "BGPAdvertisement",
            "a",
            "spec.ipAddressPoolSelectors[0].matchExpressions[0].values",
            "operator NotIn needs at least one value",
        ),
        case(
            "identical advertisements",
            format!(
                "{p30}{}{}",
                bgp_adv("a", "ipAddressPools: [p]\nlocalPref: 100"),
                bgp_adv("b", "ipAddressPools: [p]\nlocalPref: 100")
            ),
            "BGPAdvertisement",
            "b",
            "spec",
            "identical to BGPAdvertisement a",
        ),
        case(
            "localPref conflict",
            format!(
                "{n1}{p30}{}{}",
                bgp_adv("a", "ipAddressPools: [p]\nlocalPref: 100"),
                bgp_adv(
                    "b",
                    "ipAddressPools: [p]\nlocalPref: 200\ncommunities: [\"1:1\"]"
                )
            ),
            "BGPAdvertisement",
            "b",
            "spec.localPref",
            "200 conflicts with BGPAdvertisement a (localPref 100) for IPAddressPool p",
        ),
        case(
            "localPref conflict when only one family differs",
            format!(
                "{n1}{p30}{}{}",
                bgp_adv("a", "localPref: 100"),
                bgp_adv("b", "localPref: 50\naggregationLength: 31")
            ),
            "BGPAdvertisement",
            "b",
            "spec.localPref",
            "(both select node n1)",
        ),
    ]
}

fn other_cases() -> Vec<Case> {
    let l2 = |spec: &str| metallb("metallb.io/v1beta1", "L2Advertisement", "l", spec);
    let comm = |name: &str, body: &str| {
        metallb(
            "metallb.io/v1beta1",
            "Community",
            name,
            &format!("communities:\n{}", indent(body, 2)),
        )
    };
    let es = |spec: &str| {
        format!("apiVersion: k8s.ovn.org/v1\nkind: EgressService\nmetadata:\n  name: e\n  namespace: web\nspec:\n{}", indent(spec, 2))
    };
    let nncp = |spec: &str| {
        format!("apiVersion: nmstate.io/v1\nkind: NodeNetworkConfigurationPolicy\nmetadata:\n  name: n\nspec:\n{}", indent(spec, 2))
    };
    let svc = |extra: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: web\n{extra}")
    };
    vec![
        case("l2 duplicate interface", l2("interfaces: [eth0, eth0]"), "L2Advertisement", "l", "spec.interfaces[1]", "duplicate interface \"eth0\""),
        case("l2 bad interface", l2("interfaces: [\"eth 0\"]"), "L2Advertisement", "l", "spec.interfaces[0]", "is not an interface name"),
        case("l2 weight 0", l2("preferredNodeSelectors:\n- weight: 0\n  preference: {matchLabels: {zone: a}}"), "L2Advertisement", "l", "spec.preferredNodeSelectors[0].weight", "0 is out of range 1..100"),
        case("l2 bad preference", l2("preferredNodeSelectors:\n- weight: 5\n  preference:\n    matchExpressions:\n    - {key: zone, operator: Is}"), "L2Advertisement", "l", "spec.preferredNodeSelectors[0].preference.matchExpressions[0].operator", "unknown operator"),
        case("l2 duplicate pool", l2("ipAddressPools: [a, a]"), "L2Advertisement", "l", "spec.ipAddressPools[1]", "duplicate pool \"a\""),
        case("community bad value", comm("c", "- {name: gold, value: \"gold\"}"), "Community", "c", "spec.communities[0].value", "\"gold\" is not a community value"),
        case("community 16-bit", comm("c", "- {name: gold, value: \"1:70000\"}"), "Community", "c", "spec.communities[0].value", "\"70000\" is not a 16-bit number"),
        case("community no name", comm("c", "- {value: \"1:1\"}"), "Community", "c", "spec.communities[0].name", "required"),
        case("community duplicate alias", comm("c", "- {name: gold, value: \"1:1\"}\n- {name: gold, value: \"1:2\"}"), "Community", "c", "spec.communities[1].name", "duplicate alias \"gold\""),
        case(
            "community alias across objects",
            format!("{}{}", comm("a", "- {name: gold, value: \"1:1\"}"), comm("b", "- {name: gold, value: \"1:2\"}")),
            "Community", "b", "spec.communities[0].name", "alias \"gold\" is already defined by Community a",
        ),
        case("egress sourceIPBy", es("sourceIPBy: NodeIP"), "EgressService", "e", "spec.sourceIPBy", "\"NodeIP\" is not one of LoadBalancerIP, Network"),
        case("egress selector", es("nodeSelector:\n  matchExpressions:\n  - {key: vrf, operator: Maybe}"), "EgressService", "e", "spec.nodeSelector.matchExpressions[0].operator", "unknown operator \"Maybe\""),
        case("nncp no desired state", nncp("nodeSelector: {vrf: \"true\"}"), "NodeNetworkConfigurationPolicy", "n", "spec.desiredState", "required"),
        case("nncp maxUnavailable", nncp("maxUnavailable: lots\ndesiredState: {}"), "NodeNetworkConfigurationPolicy", "n", "spec.maxUnavailable", "\"lots\" must be a count or a percentage"),
        case("nncp node selector", nncp("nodeSelector: {\"bad key!\": x}\ndesiredState: {}"), "NodeNetworkConfigurationPolicy", "n", "spec.nodeSelector[bad key!]", "invalid label key"),
        case("nncp unsupported key", nncp("desiredState:\n  ovs-db: {}"), "NodeNetworkConfigurationPolicy", "n", "spec.desiredState.ovs-db", "unsupported key"),
        case("service ingress ip", svc("spec: {type: LoadBalancer}\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: nowhere\n"), "Service", "s", "status.loadBalancer.ingress[0].ip", "\"nowhere\" is not an IP address"),
        case("service ip annotation", svc("  annotations:\n    metallb.universe.tf/loadBalancerIPs: \"192.0.2.1,x\"\n"), "Service", "s", "metadata.annotations[metallb.universe.tf/loadBalancerIPs]", "\"x\" is not an IP address"),
        case("unknown metallb kind", metallb("metallb.io/v1beta1", "AddressPool", "old", "protocol: bgp"), "AddressPool", "old", "kind", "unknown kind AddressPool in metallb.io/v1beta1"),
        case("unknown core kind", "apiVersion: v1\nkind: Servce\nmetadata: {name: s}\n".to_string(), "Servce", "s", "kind", "unknown kind Servce in v1"),
        case("missing apiVersion", "kind: Service\nmetadata: {name: s}\n".to_string(), "Service", "s", "apiVersion", "required"),
        case(
            "duplicate object",
            format!("{}{}", pool("p", &["192.0.2.0/28"]), pool("p", &["198.51.100.0/28"])),
            "IPAddressPool", "p", "metadata.name", "duplicate IPAddressPool metallb-system/p",
        ),
        case("missing spec", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspecs: {addresses: [192.0.2.0/28]}\n".to_string(), "IPAddressPool", "p", "spec", "required"),
        case("missing nested field", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {autoAssign: true}\n".to_string(), "IPAddressPool", "p", "spec.addresses", "required"),
        case("missing name", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {namespace: metallb-system}\nspec: {addresses: [192.0.2.0/28]}\n".to_string(), "IPAddressPool", "", "metadata.name", "required"),
    ]
}

#[test]
fn every_invalid_case_names_field_and_reason() {
    let cases: Vec<Case> = [
        peer_cases(),
        peer_cross_cases(),
        pool_cases(),
        bfd_cases(),
        adv_cases(),
        other_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let snap = snapshot(&c.yaml);
        // For duplicates, the second report with this key is the invalid one.
        let candidates: Vec<_> = snap
            .reports
            .iter()
            .filter(|r| r.key.kind == c.kind && r.key.name == c.object)
            .collect();
        let Some(r) = candidates.iter().find(|r| !r.errors.is_empty()) else {
            failures.push(format!(
                "{}: {} {} has no error; reports: {:#?}",
                c.name, c.kind, c.object, candidates
            ));
            continue;
        };
        let hit = r
            .errors
            .iter()
            .find(|e| e.field == c.field && e.reason.contains(c.reason));
        match hit {
            None => failures.push(format!(
                "{}: no error {} / {:?}; got {:#?}",
                c.name, c.field, c.reason, r.errors
            )),
            Some(e) if e.transient != c.transient => failures.push(format!(
                "{}: transient is {} (want {})",
                c.name, e.transient, c.transient
            )),
            Some(_) => {}
        }
        if r.is_valid() {
            failures.push(format!("{}: reported valid", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
