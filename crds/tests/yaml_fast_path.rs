//! The document-by-document loader (with its fast reader for the usual manifest subset) against
//! the whole-stream `serde_yaml_ng` path it replaces: the same objects, document numbers, issues
//! and errors, for every example file and for thousands of generated streams mixing the subset
//! with everything it must leave to the full parser.

use metalroute_crds::loader::{load_str, load_whole, Loaded};
use metalroute_crds::object::ReadOptions;
use std::path::{Path, PathBuf};

/// Everything a load gives, as text (objects with their sources, outcomes and issues; errors).
fn dump(l: &Loaded) -> String {
    format!(
        "{:#?}\n{:?}",
        l.objects,
        l.errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    )
}

fn same(text: &str, file: &Path) {
    let opts = ReadOptions::default();
    let fast = load_str(text, Some(file), &opts);
    let whole = load_whole(text, Some(file), &opts);
    assert_eq!(dump(&fast), dump(&whole), "{}:\n{text}", file.display());
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_loads_the_same_both_ways() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for d in [
        "examples",
        "../shared/examples/seeds",
        "fuzz/corpus/yaml_load",
        "agent/tests",
    ] {
        let p = root.join(d);
        if p.is_dir() {
            yaml_files(&p, &mut files);
        }
    }
    assert!(files.len() > 20, "only {} example files found", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        same(&text, f);
    }
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }
}

const SCALARS: &[&str] = &[
    "a",
    "x y",
    "svc-1",
    "LoadBalancer",
    "1",
    "-2",
    "0",
    "80",
    "007",
    "1.5",
    "1e3",
    "0x1F",
    "+5",
    ".inf",
    "true",
    "True",
    "tRue",
    "false",
    "null",
    "~",
    "yes",
    "on",
    "\"d\"",
    "'q'",
    "'it''s'",
    "\"e\\\"x\"",
    "\"t\\tab\"",
    "\"\\u00e9\"",
    "a#b",
    "a #c",
    "x:y",
    "x: y",
    "-",
    "- a",
    "[a, b]",
    "{a: 1}",
    "{a: [1, {b: c}]}",
    "[]",
    "{}",
    "[x, ]",
    "{a}",
    "{a: }",
    "[a: b]",
    "http://x/y",
    "&a x",
    "*a",
    "!t x",
    "|",
    ">",
    "10.0.0.1",
    "192.0.2.0/24",
    "2001:db8::1",
    "@x",
    "`x",
    "? x",
    "\"198.18.0.1\"",
    "[\"10.244.0.5\"]",
    "{port: 80, protocol: TCP}",
    "[{ip: \"1.2.3.4\"}]",
    "a  b",
    "x[1]",
    "'--- x'",
    "\"unterminated",
    "[1, 2",
    "é",
    "_k",
    "/p",
];
const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "name",
    "key with space",
    "kubernetes.io/service-name",
    "'q k'",
    "\"d k\"",
    "1",
    "true",
    "null",
    "a #b",
    "x:y",
    "-k",
    "_k",
    "a",
    "? k",
    "&x k",
    "k ",
];

/// A block node at `indent`, `depth` levels down.
fn node(r: &mut Lcg, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    match if depth > 3 { 2 } else { r.next() % 3 } {
        0 => {
            for _ in 0..1 + r.next() % 4 {
                let key = r.pick(KEYS);
                if r.next() % 3 == 0 {
                    out.push_str(&format!("{pad}{key}:"));
                    if r.next() % 5 == 0 {
                        out.push_str(" # c");
                    }
                    out.push('\n');
                    let child = if r.next() % 4 == 0 {
                        indent
                    } else {
                        indent + 2
                    };
                    if child == indent {
                        seq(r, out, indent, depth + 1);
                    } else {
                        node(r, out, child, depth + 1);
                    }
                } else {
                    out.push_str(&format!("{pad}{key}: {}", r.pick(SCALARS)));
                    if r.next() % 6 == 0 {
                        out.push_str(" # trailing");
                    }
                    if r.next() % 7 == 0 {
                        out.push_str("  ");
                    }
                    out.push('\n');
                }
                if r.next() % 9 == 0 {
                    out.push_str(&format!("{pad}# a comment\n\n"));
                }
            }
        }
        1 => seq(r, out, indent, depth),
        _ => out.push_str(&format!("{pad}{}\n", r.pick(SCALARS))),
    }
}

fn seq(r: &mut Lcg, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    for _ in 0..1 + r.next() % 3 {
        match r.next() % 4 {
            0 => out.push_str(&format!("{pad}- {}\n", r.pick(SCALARS))),
            1 => {
                // A compact mapping.
                out.push_str(&format!("{pad}- {}: {}\n", r.pick(KEYS), r.pick(SCALARS)));
                if r.next() % 2 == 0 {
                    out.push_str(&format!("{pad}  {}: {}\n", r.pick(KEYS), r.pick(SCALARS)));
                }
            }
            2 if depth < 4 => {
                out.push_str(&format!("{pad}-\n"));
                node(r, out, indent + 2, depth + 1);
            }
            _ => out.push_str(&format!("{pad}- - {}\n", r.pick(SCALARS))),
        }
    }
}

#[test]
fn generated_streams_load_the_same_both_ways() {
    let mut r = Lcg(42);
    let mut clean = 0;
    for i in 0..4000 {
        let mut text = String::new();
        if r.next() % 4 == 0 {
            text.push_str("# leading comment\n");
        }
        for d in 0..1 + r.next() % 3 {
            if d > 0 || r.next() % 2 == 0 {
                text.push_str(r.pick(&["---\n", "--- # c\n", "---  \n"]));
            }
            node(&mut r, &mut text, 0, 0);
        }
        // Some streams are Kubernetes objects, so parse_object sees typed documents too.
        if r.next() % 3 == 0 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: {}, protocol: TCP}}]\n",
                r.pick(SCALARS)
            ));
        }
        same(&text, Path::new("gen.yaml"));
        // Streams that load cleanly (the rest compare error reports): both kinds must occur.
        let l = load_str(&text, Some(Path::new("gen.yaml")), &ReadOptions::default());
        if l.errors.is_empty() && !l.objects.is_empty() {
            clean += 1;
        }
    }
    assert!(
        (400..3600).contains(&clean),
        "{clean} of 4,000 streams load cleanly: the mix is too one-sided"
    );
}

#[test]
fn a_large_file_is_read_on_several_threads_the_same() {
    let mut text = String::new();
    for i in 0..600 {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: default, name: svc-{i}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\nstatus:\n  loadBalancer:\n    ingress: [{{ip: \"198.18.{}.{}\"}}]\n",
            i / 256,
            i % 256
        ));
        if i == 300 {
            // One document the fast reader leaves to the full parser, in the middle.
            text.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  x: |\n    multi\n    line\n");
        }
    }
    assert!(text.len() > 64 * 1024, "{} bytes", text.len());
    same(&text, Path::new("big.yaml"));
    // And with a syntax error in the middle: the whole-stream path's error, unchanged.
    let broken = text.replacen("name: svc-400}", "name: [svc-400}", 1);
    same(&broken, Path::new("big.yaml"));
    let l = load_str(
        &broken,
        Some(Path::new("big.yaml")),
        &ReadOptions::default(),
    );
    assert_eq!(l.errors.len(), 1);
}
