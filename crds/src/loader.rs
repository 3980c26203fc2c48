//! Reads objects from YAML/JSON files and directories: multi-document YAML, `v1 List` objects
//! expanded, directories read non-recursively in sorted order (`.yaml`, `.yml`, `.json`), each
//! document dispatched on `apiVersion`/`kind` by [`crate::object::parse_object`]. Input that cannot
//! be read or is not YAML is a [`LoadError`] naming the file, the document index and the line.
//!
//! The YAML parser is `serde_yaml_ng`: a maintained fork of the deprecated `serde_yaml` with the
//! same API (multi-document `Deserializer`, error locations), built on libyaml's pure-Rust port.
//! A file is first cut into its documents, and each document is read by the fast reader of
//! [`crate::yaml_subset`] when it is written in the usual manifest subset (else by
//! `serde_yaml_ng`, alone), on several threads for a large file; a file with any error, or
//! with stream features that make the cut uncertain, is read whole by `serde_yaml_ng` as
//! before. Either way the objects, their document numbers and the errors are the same.

pub use crate::error::LoadError;
use crate::object::{parse_object, LoadedObject, ReadOptions};
use crate::report::Source;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What loading produced: every object (or skipped/unknown document), and every input error.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Objects in file order, then document order.
    pub objects: Vec<LoadedObject>,
    /// Unreadable input; the objects read before or elsewhere are still in `objects`.
    pub errors: Vec<LoadError>,
}

/// Lists the files a path stands for: the file itself, or a directory's `.yaml`/`.yml`/`.json`
/// files in sorted order (not recursive, like `kubectl apply -f DIR`).
pub fn files_of(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let is_config = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if is_config && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(LoadError::EmptyDirectory {
            path: path.to_path_buf(),
        });
    }
    Ok(files)
}

/// Loads every file and directory given (`-` reads standard input).
pub fn load_paths<P: AsRef<Path>>(paths: &[P], opts: &ReadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    for p in paths {
        if p.as_ref() == Path::new("-") {
            // `-` is standard input, as with kubectl.
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => {
                    let part = load_str(&text, None, opts);
                    loaded.objects.extend(part.objects);
                    loaded.errors.extend(part.errors);
                }
                Err(source) => loaded.errors.push(LoadError::Io {
                    path: PathBuf::from("<stdin>"),
                    source,
                }),
            }
            continue;
        }
        match files_of(p.as_ref()) {
            Ok(files) => {
                for f in files {
                    match std::fs::read_to_string(&f) {
                        Ok(text) => {
                            let part = load_str(&text, Some(&f), opts);
                            loaded.objects.extend(part.objects);
                            loaded.errors.extend(part.errors);
                        }
                        Err(source) => loaded.errors.push(LoadError::Io { path: f, source }),
                    }
                }
            }
            Err(e) => loaded.errors.push(e),
        }
    }
    loaded
}

/// Below this size a file is read on one thread (a thread costs more than it saves).
const PARALLEL_BYTES: usize = 64 * 1024;

/// Loads the documents of one text (YAML, or JSON when `file` ends in `.json`).
pub fn load_str(text: &str, file: Option<&Path>, opts: &ReadOptions) -> Loaded {
    let is_json = file
        .and_then(|f| f.extension())
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "json");
    if !is_json {
        if let Some(loaded) = load_documents(text, file, opts) {
            return loaded;
        }
    }
    load_whole(text, file, opts)
}

/// The objects of one document's value (a `v1 List` gives its items).
fn objects_of(
    value: serde_json::Value,
    document: usize,
    file: Option<&Path>,
    opts: &ReadOptions,
    out: &mut Vec<LoadedObject>,
) {
    if value.is_null() {
        return;
    }
    let source = Some(Source {
        file: file.map(Path::to_path_buf),
        document,
    });
    let is_list = value.get("apiVersion").and_then(|v| v.as_str()) == Some("v1")
        && value.get("kind").and_then(|v| v.as_str()) == Some("List");
    if is_list {
        if let Some(items) = value.get("items").and_then(|i| i.as_array()) {
            for item in items {
                out.push(parse_object(item, source.clone(), opts));
            }
            return;
        }
    }
    out.push(parse_object(&value, source, opts));
}

/// One document read alone: by the fast reader, or else by `serde_yaml_ng`; `None` when it is
/// not exactly one valid document (the whole file is then read the usual way, which reports
/// the error as it always has).
fn read_chunk(chunk: &str) -> Option<serde_json::Value> {
    if let Some(v) = crate::yaml_subset::read_document(chunk) {
        // Under the fuzzer, every document the fast reader reads is checked against the full
        // parser.
        #[cfg(fuzzing)]
        {
            let mut docs = serde_yaml_ng::Deserializer::from_str(chunk);
            let full = docs.next().map(serde_json::Value::deserialize);
            assert!(
                matches!(&full, Some(Ok(f)) if *f == v) && docs.next().is_none(),
                "fast reader: {v:?}, serde_yaml_ng: {full:?}, for {chunk:?}"
            );
        }
        return Some(v);
    }
    let mut docs = serde_yaml_ng::Deserializer::from_str(chunk);
    let v = serde_json::Value::deserialize(docs.next()?).ok()?;
    docs.next().is_none().then_some(v)
}

/// Loads a YAML text document by document (see the module documentation); `None` when it must
/// be read whole.
fn load_documents(text: &str, file: Option<&Path>, opts: &ReadOptions) -> Option<Loaded> {
    let chunks = crate::yaml_subset::split_documents(text)?;
    let read = |part: &[crate::yaml_subset::Chunk<'_>]| -> Option<Vec<LoadedObject>> {
        let mut out = Vec::with_capacity(part.len());
        for c in part {
            objects_of(read_chunk(c.text)?, c.document, file, opts, &mut out);
        }
        Some(out)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let parts: Vec<Option<Vec<LoadedObject>>> = if text.len() < PARALLEL_BYTES || threads < 2 {
        vec![read(&chunks)]
    } else {
        let per = chunks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut slices = chunks.chunks(per.max(1));
            let first = slices.next().unwrap_or_default();
            let rest: Vec<_> = slices.map(|s| scope.spawn(move || read(s))).collect();
            let mut parts = vec![read(first)];
            // A thread that panicked counts as a failed read: the whole file is read again.
            parts.extend(rest.into_iter().map(|h| h.join().ok().flatten()));
            parts
        })
    };
    let mut objects = Vec::with_capacity(chunks.len());
    for p in parts {
        objects.extend(p?);
    }
    Some(Loaded {
        objects,
        errors: Vec::new(),
    })
}

/// Loads the documents of one text with `serde_yaml_ng` reading the whole stream (or
/// `serde_json` for JSON): the reference the document-by-document path is tested against.
#[doc(hidden)]
pub fn load_whole(text: &str, file: Option<&Path>, opts: &ReadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    let is_json = file
        .and_then(|f| f.extension())
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "json");
    let push = |value: serde_json::Value, document: usize, loaded: &mut Loaded| {
        objects_of(value, document, file, opts, &mut loaded.objects);
    };
    if is_json {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => push(v, 0, &mut loaded),
            Err(e) => loaded.errors.push(LoadError::Syntax {
                path: file.map(Path::to_path_buf),
                document: 0,
                line: Some(e.line()),
                message: e.to_string(),
            }),
        }
        return loaded;
    }
    for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match serde_json::Value::deserialize(de) {
            Ok(v) => push(v, document, &mut loaded),
            Err(e) => {
                loaded.errors.push(LoadError::Syntax {
                    path: file.map(Path::to_path_buf),
                    document,
                    line: e.location().map(|l| l.line()),
                    message: e.to_string(),
                });
                // The parser cannot resynchronise after a syntax error: stop this file.
                break;
            }
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    #[test]
    fn syntax_error_names_document_and_line() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [unclosed\n";
        let l = load_str(text, Some(Path::new("x.yaml")), &ReadOptions::default());
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.errors.len(), 1);
        let msg = l.errors[0].to_string();
        assert!(msg.starts_with("x.yaml: document 1, line "), "{msg}");
    }

    #[test]
    fn manifests_are_read_document_by_document_by_the_fast_reader() {
        let mut text = String::from("# Services\n");
        for i in 0..300 {
            text.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: default, name: svc-{i}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\nstatus:\n  loadBalancer:\n    ingress: [{{ip: \"198.18.1.{}\"}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: svc-{i}-1\n  labels: {{kubernetes.io/service-name: svc-{i}}}\naddressType: IPv4\nendpoints:\n  - addresses: [\"10.244.0.5\"]\n    nodeName: node-a\n    conditions: {{ready: true}}\n", i % 256));
        }
        let chunks = crate::yaml_subset::split_documents(&text).expect("cut into documents");
        assert_eq!(chunks.len(), 600);
        for c in &chunks {
            assert!(
                crate::yaml_subset::read_document(c.text).is_some(),
                "the fast reader declined {:?}",
                c.text
            );
        }
        assert!(text.len() > PARALLEL_BYTES, "read on several threads");
        let opts = ReadOptions::default();
        let l = load_documents(&text, Some(Path::new("s.yaml")), &opts).expect("not read whole");
        assert_eq!(l.objects.len(), 600);
        assert_eq!(
            l.objects[599].source.as_ref().map(|s| s.document),
            Some(599)
        );
    }

    #[test]
    fn lists_are_expanded_and_empty_documents_ignored() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n";
        let l = load_str(text, None, &ReadOptions::default());
        assert!(l.errors.is_empty());
        assert_eq!(l.objects.len(), 2);
        assert_eq!(l.objects[0].outcome, Outcome::Checked);
        assert_eq!(l.objects[1].outcome, Outcome::Skipped);
    }
}
