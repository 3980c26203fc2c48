//! Reads objects from YAML/JSON files and directories: multi-document YAML, `v1 List` objects
//! expanded, directories read non-recursively in sorted order (`.yaml`, `.yml`, `.json`), each
//! document dispatched on `apiVersion`/`kind` by [`crate::object::parse_object`]. Input that cannot
//! be read or is not YAML is a [`LoadError`] naming the file, the document index and the line.
//!
//! The YAML parser is `serde_yaml_ng`: a maintained fork of the deprecated `serde_yaml` with the
//! same API (multi-document `Deserializer`, error locations), built on libyaml's pure-Rust port.

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

/// Loads the documents of one text (YAML, or JSON when `file` ends in `.json`).
pub fn load_str(text: &str, file: Option<&Path>, opts: &ReadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    let is_json = file
        .and_then(|f| f.extension())
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "json");
    let push = |value: serde_json::Value, document: usize, loaded: &mut Loaded| {
        let source = Some(Source {
            file: file.map(Path::to_path_buf),
            document,
        });
        if value.is_null() {
            return;
        }
        let is_list = value.get("apiVersion").and_then(|v| v.as_str()) == Some("v1")
            && value.get("kind").and_then(|v| v.as_str()) == Some("List");
        if is_list {
            if let Some(items) = value.get("items").and_then(|i| i.as_array()) {
                for item in items {
                    loaded
                        .objects
                        .push(parse_object(item, source.clone(), opts));
                }
                return;
            }
        }
        loaded.objects.push(parse_object(&value, source, opts));
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
    fn lists_are_expanded_and_empty_documents_ignored() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n";
        let l = load_str(text, None, &ReadOptions::default());
        assert!(l.errors.is_empty());
        assert_eq!(l.objects.len(), 2);
        assert_eq!(l.objects[0].outcome, Outcome::Checked);
        assert_eq!(l.objects[1].outcome, Outcome::Skipped);
    }
}
