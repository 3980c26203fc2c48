//! A fast reader for the YAML that Kubernetes manifests are written in, used by
//! [`crate::loader`] before the full YAML parser: block mappings and sequences, one-line flow
//! collections, plain and quoted one-line scalars, comments. It gives the same
//! `serde_json::Value` the full parser (`serde_yaml_ng`) gives for every document it accepts,
//! and declines (`None`) everything else — anchors, aliases, tags, block scalars, multi-line
//! scalars, complex keys, duplicate keys, tabs, numbers other than plain decimal integers — so
//! that the full parser reads those documents. It never decides an error: a document it cannot
//! read is simply read again by the full parser, which reports what is wrong.
//!
//! [`split_documents`] cuts a stream into its documents at `---` lines (a line that starts with
//! `---` followed by a space or its end cannot be inside any YAML node: it ends the document),
//! so that each document can be read on its own, and in parallel.

use serde_json::{Map, Number, Value};

/// One document of a stream: its text (from its `---` line, when it has one, to the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk<'t> {
    /// The document's text.
    pub text: &'t str,
    /// Its index among the stream's documents (as the full parser numbers them).
    pub document: usize,
}

/// Cuts `text` into its documents, numbered as the full parser numbers them; `None` when the
/// stream uses something that makes that uncertain (`...` end markers, `%` directives, a byte
/// order mark, carriage returns): the caller then reads it whole.
pub(crate) fn split_documents(text: &str) -> Option<Vec<Chunk<'_>>> {
    if text.starts_with('\u{feff}') || text.contains('\r') {
        return None;
    }
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.starts_with("...") || body.starts_with('%') {
            return None;
        }
        if is_marker(body) {
            starts.push(at);
        }
        at += line.len();
    }
    let mut chunks = Vec::with_capacity(starts.len() + 1);
    // Before the first marker: a document only when it holds content (or when there is no
    // marker at all: an empty stream is one empty document).
    let first_end = starts.first().copied().unwrap_or(text.len());
    let head = &text[..first_end];
    if starts.is_empty() || head.lines().any(is_content) {
        chunks.push(Chunk {
            text: head,
            document: 0,
        });
    }
    for (i, s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        chunks.push(Chunk {
            text: &text[*s..end],
            document: chunks.len(),
        });
    }
    Some(chunks)
}

/// A document start marker line: `---` then a space, a tab or nothing.
fn is_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
}

/// A line that is neither blank nor only a comment.
fn is_content(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    !t.is_empty() && !t.starts_with('#')
}

/// One line of a document: where its content starts and the content (without the newline).
#[derive(Debug, Clone, Copy)]
struct Line<'t> {
    indent: usize,
    text: &'t str,
}

/// Reads one document (a [`Chunk`]'s text) into the value the full parser gives, or `None`
/// when the document is outside this reader's subset.
pub(crate) fn read_document(chunk: &str) -> Option<Value> {
    // Tabs, characters YAML does not allow in a stream at all (which the full parser rejects
    // wherever they are, comments included), and the line breaks other than `\n`.
    let printable = |c: char| {
        c == '\n'
            || (' '..='~').contains(&c)
            || (c >= '\u{a0}'
                && !matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ))
    };
    let ascii = chunk
        .bytes()
        .all(|b| b == b'\n' || (0x20..0x7f).contains(&b));
    if !ascii && !chunk.chars().all(printable) {
        return None;
    }
    let mut lines = Vec::new();
    let mut all = chunk.lines();
    let mut first = true;
    for raw in all.by_ref() {
        if first {
            first = false;
            if let Some(rest) = raw.strip_prefix("---").filter(|_| is_marker(raw)) {
                // A bare marker (maybe with a comment) starts the document; anything else on
                // that line (`--- |`, `--- {a: 1}`) is left to the full parser.
                let rest = rest.trim_start_matches(' ');
                if !rest.is_empty() && !rest.starts_with('#') {
                    return None;
                }
                continue;
            }
        }
        let body = raw.trim_end_matches(' ');
        let indent = body.len() - body.trim_start_matches(' ').len();
        let text = &body[indent..];
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        lines.push(Line { indent, text });
    }
    if lines.is_empty() {
        return Some(Value::Null);
    }
    let mut r = Reader {
        lines,
        at: 0,
        depth: 0,
    };
    let indent = r.lines[0].indent;
    let v = r.block_node(indent)?;
    // Everything must have been read.
    (r.at == r.lines.len()).then_some(v)
}

/// Deeper nesting than this is left to the full parser (which has its own limit and reports
/// it); it also bounds this reader's recursion.
const MAX_DEPTH: usize = 64;

/// The state of reading one document's lines.
struct Reader<'t> {
    lines: Vec<Line<'t>>,
    at: usize,
    depth: usize,
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<Line<'t>> {
        self.lines.get(self.at).copied()
    }

    /// The block node starting at the current line, which is at column `indent`.
    fn block_node(&mut self, indent: usize) -> Option<Value> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = self.block_node_inner(indent);
        self.depth -= 1;
        v
    }

    fn block_node_inner(&mut self, indent: usize) -> Option<Value> {
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if is_seq_entry(line.text) {
            return self.block_sequence(indent);
        }
        if !line.text.starts_with(['[', '{']) && split_key(line.text).is_some() {
            return self.block_mapping(indent);
        }
        // A lone scalar or flow collection as the node (e.g. a sequence item's value).
        self.at += 1;
        let v = inline_value(line.text, self.depth)?;
        self.no_continuation(indent)?;
        Some(v)
    }

    /// After a one-line value at `indent`, the next line must not be more indented (it would
    /// continue a multi-line scalar, or be an error).
    fn no_continuation(&self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    fn block_sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            // A line at the sequence's column that is not an entry ends it (a mapping key
            // after a sequence written at that key's column).
            if line.indent < indent || (line.indent == indent && !is_seq_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let rest = &line.text[1..];
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            let rest = &rest[spaces..];
            if rest.is_empty() || rest.starts_with('#') {
                // `-` alone: the item is the block below it (or null).
                self.at += 1;
                match self.peek() {
                    Some(next) if next.indent > indent => items.push(self.block_node(next.indent)?),
                    _ => items.push(Value::Null),
                }
                continue;
            }
            // The item starts on this line, at the column after `- `: read it as if that were
            // a line of its own (a compact mapping continues on the next lines at that column).
            let column = indent + 1 + spaces;
            self.lines[self.at] = Line {
                indent: column,
                text: rest,
            };
            items.push(self.block_node(column)?);
        }
        Some(Value::Array(items))
    }

    fn block_mapping(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            let key = read_key(key)?;
            self.at += 1;
            let rest = rest.trim_start_matches(' ');
            let value = if rest.is_empty() || rest.starts_with('#') {
                match self.peek() {
                    Some(next) if next.indent > indent => self.block_node(next.indent)?,
                    // A sequence may sit at the key's own column.
                    Some(next) if next.indent == indent && is_seq_entry(next.text) => {
                        self.block_sequence(indent)?
                    }
                    _ => Value::Null,
                }
            } else {
                let v = inline_value(rest, self.depth)?;
                self.no_continuation(indent)?;
                v
            };
            // A key given twice is left to the full parser.
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        Some(Value::Object(map))
    }
}

/// A block sequence entry: `-` then a space or the end of the line.
fn is_seq_entry(text: &str) -> bool {
    text.strip_prefix('-')
        .is_some_and(|r| r.is_empty() || r.starts_with(' '))
}

/// Splits a mapping entry line into its key text and what follows the `:`; `None` when the
/// line is not a mapping entry this reader knows.
fn split_key(text: &str) -> Option<(&str, &str)> {
    if let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = quoted_end(text, q)?;
        let rest = text[end..].strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then_some((&text[..end], rest));
    }
    let mut from = 0;
    loop {
        let i = from + text[from..].find(':')?;
        let after = &text[i + 1..];
        if after.is_empty() || after.starts_with(' ') {
            return Some((&text[..i], after));
        }
        from = i + 1;
    }
}

/// The byte just past the closing quote of the quoted scalar `text` starts with.
fn quoted_end(text: &str, q: char) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match (q, bytes[i]) {
            ('"', b'\\') => i += 2,
            ('"', b'"') => return Some(i + 1),
            ('\'', b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            ('\'', b'\'') => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A mapping key: quoted, or a plain scalar that the full parser reads as a string.
fn read_key(key: &str) -> Option<String> {
    if key.len() > 1000 {
        return None;
    }
    if key.starts_with(['"', '\'']) {
        return unquote(key);
    }
    // A key holding a comment start or ending in a space is left to the full parser, and so is
    // a long one (YAML limits implicit keys to 1,024 characters; the full parser enforces it).
    if key.contains(" #") || key.ends_with(' ') || key.len() > 1000 {
        return None;
    }
    match plain(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A value on one line, `depth` levels down: a flow collection, a quoted scalar or a plain
/// scalar, then at most a comment.
fn inline_value(text: &str, depth: usize) -> Option<Value> {
    let first = text.chars().next()?;
    let (v, rest) = match first {
        '[' | '{' => {
            let mut f = Flow {
                s: text,
                at: 0,
                depth,
            };
            let v = f.value()?;
            (v, &text[f.at..])
        }
        '"' | '\'' => {
            let end = quoted_end(text, first)?;
            (Value::String(unquote(&text[..end])?), &text[end..])
        }
        _ => {
            // A plain scalar ends at a comment; `: ` inside it is an error (left to the full
            // parser), as is anything starting with an indicator.
            let body = match text.find(" #") {
                Some(i) => &text[..i],
                None => text,
            };
            let body = body.trim_end_matches(' ');
            if body.contains(": ") || body.ends_with(':') {
                return None;
            }
            return plain(body);
        }
    };
    // Then nothing, or a space and a comment.
    let ok = rest.is_empty()
        || (rest.starts_with(' ') && {
            let r = rest.trim_start_matches(' ');
            r.is_empty() || r.starts_with('#')
        });
    ok.then_some(v)
}

/// A plain scalar as the full parser resolves it (YAML 1.2 core schema): `None` for the forms
/// this reader does not resolve itself (every number but a plain decimal integer, and any
/// scalar starting with an indicator).
fn plain(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = s.chars().next()?;
    if first.is_ascii_alphabetic() || first == '_' || first == '/' {
        return Some(Value::String(s.to_string()));
    }
    // Decimal integers without a sign or leading zero (or negative), short enough to fit.
    let digits = s.strip_prefix('-').unwrap_or(s);
    let decimal = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if decimal {
        let n: i64 = s.parse().ok()?;
        return Some(if n >= 0 {
            Value::Number(Number::from(n as u64))
        } else {
            Value::Number(Number::from(n))
        });
    }
    None
}

/// The string a quoted scalar (with its quotes) stands for; `None` for escapes this reader
/// does not translate.
fn unquote(q: &str) -> Option<String> {
    if let Some(inner) = q.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '/' => out.push('/'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            ' ' => out.push(' '),
            _ => return None,
        }
    }
    Some(out)
}

/// A flow collection on one line.
struct Flow<'t> {
    s: &'t str,
    at: usize,
    depth: usize,
}

impl<'t> Flow<'t> {
    fn skip_spaces(&mut self) {
        while self.s.as_bytes().get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_spaces();
        match self.peek()? {
            b'[' | b'{' if self.depth >= MAX_DEPTH => None,
            b'[' => {
                self.depth += 1;
                let v = self.sequence();
                self.depth -= 1;
                v
            }
            b'{' => {
                self.depth += 1;
                let v = self.mapping();
                self.depth -= 1;
                v
            }
            q @ (b'"' | b'\'') => {
                let text = self.quoted_text(q as char)?;
                Some(Value::String(unquote(text)?))
            }
            _ => plain(self.plain_text()?),
        }
    }

    /// A plain scalar in a flow collection: up to `,`, `]` or `}`; one holding `:`, `#` or a
    /// bracket is left to the full parser.
    fn plain_text(&mut self) -> Option<&str> {
        let start = self.at;
        while let Some(b) = self.peek() {
            match b {
                b',' | b']' | b'}' => break,
                b':' | b'#' | b'[' | b'{' | b'"' | b'\'' => return None,
                _ => self.at += 1,
            }
        }
        let t = self.s[start..self.at].trim_end_matches(' ');
        (!t.is_empty()).then_some(t)
    }

    /// After an entry of a collection closed by `close`: `true` when it closes here, `false`
    /// when a `,` and another entry follow; `None` for anything else (a trailing comma or an
    /// empty entry is left to the full parser).
    fn entry_end(&mut self, close: u8) -> Option<bool> {
        self.skip_spaces();
        let b = self.peek()?;
        self.at += 1;
        if b == close {
            return Some(true);
        }
        if b != b',' {
            return None;
        }
        self.skip_spaces();
        (self.peek()? != b',' && self.peek()? != close).then_some(false)
    }

    /// The quoted scalar at the current position (opening with `q`), quotes included.
    fn quoted_text(&mut self, q: char) -> Option<&'t str> {
        let end = self.at + quoted_end(&self.s[self.at..], q)?;
        let text = &self.s[self.at..end];
        self.at = end;
        Some(text)
    }

    fn sequence(&mut self) -> Option<Value> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_spaces();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.entry_end(b']')? {
                return Some(Value::Array(items));
            }
        }
    }

    fn mapping(&mut self) -> Option<Value> {
        self.at += 1;
        let mut map = Map::new();
        self.skip_spaces();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(Value::Object(map));
        }
        loop {
            self.skip_spaces();
            let key = match self.peek()? {
                q @ (b'"' | b'\'') => {
                    let text = self.quoted_text(q as char)?;
                    read_key(text)?
                }
                _ => {
                    // A plain key ends at `: `.
                    let start = self.at;
                    let rel = self.s[start..].find(": ")?;
                    let k = &self.s[start..start + rel];
                    if k.contains([',', '[', ']', '{', '}', '#', ':', '"', '\'']) {
                        return None;
                    }
                    self.at = start + rel;
                    read_key(k.trim_end_matches(' '))?
                }
            };
            // `: ` then the value (an empty value is left to the full parser).
            self.skip_spaces();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            if self.peek()? != b' ' {
                return None;
            }
            let value = self.value()?;
            if map.insert(key, value).is_some() {
                return None;
            }
            if self.entry_end(b'}')? {
                return Some(Value::Object(map));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// What the full parser gives for each document.
    fn full(text: &str) -> Vec<Value> {
        serde_yaml_ng::Deserializer::from_str(text)
            .map(|de| Value::deserialize(de).unwrap())
            .collect()
    }

    /// Reads `doc` both ways: the fast reader must agree whenever it reads it.
    fn agree(doc: &str) -> bool {
        let want = full(doc);
        match read_document(doc) {
            Some(v) => {
                assert_eq!(want.len(), 1, "{doc:?}");
                assert_eq!(v, want[0], "{doc:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn reads_manifest_shapes_as_the_full_parser_does() {
        let docs = [
            "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: svc-1}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Cluster\n  ipFamilies: [IPv4]\n  ports: [{port: 80, protocol: TCP}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: \"198.18.0.1\"}]\n",
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: svc-1-1\n  labels: {kubernetes.io/service-name: svc-1}\naddressType: IPv4\nendpoints:\n  - addresses: [\"10.244.0.5\"]\n    nodeName: node-a\n    conditions: {ready: true}\nports: [{port: 80, protocol: TCP}]\n",
            "---\na:\n- 1\n- -2\n- x\nb: # comment\n  c: 'it''s'\n  d: \"q\\\"\\\\ \\n\"\n",
            "--- # a comment\nlist:\n  -\n    k: v\n  - - a\n    - b\n  - {}\n  - []\n  - {a: 1} # c\n  - \"q\"\n",
            "  a: 1\n  b:\n  - x\n  - y: z\n    w: [1, -2, 0]\n  c: http://x/y\n  d: x[1]\n",
            "a: ~\nb:\nc: null\nd: True\ne: FALSE\nf: 0\ng: 123456789012345678\nh: x y  z\ni: a#b # c\n",
            "\"quoted key\": 1\n'single': [a, 'b', \"c\"]\nnested: {a: {b: [1, {c: d}]}}\n",
            "",
            "# only a comment\n",
        ];
        for d in docs {
            assert!(agree(d), "the fast reader declined {d:?}");
        }
    }

    #[test]
    fn declines_what_it_does_not_resolve_and_agrees_otherwise() {
        let docs = [
            "a: 1.5\n",
            "a: 007\n",
            "a: 0x1F\n",
            "a: +5\n",
            "a: .inf\n",
            "a: 1e3\n",
            "a: &x 1\nb: *x\n",
            "a: !t x\n",
            "a: |\n  x\n",
            "a: >\n  x\n",
            "a: b\n  c\n",
            "? a\n: 1\n",
            "a: 1\na: 2\n",
            "a: {b}\n",
            "a: [b: c]\n",
            "a: [x, ]\n",
            "a: {x:y}\n",
            "a: \"x\n  y\"\n",
            "a: \"\\u00e9\"\n",
            "a:\tb\n",
            "--- |\n  x\n",
            "--- {a: 1}\n",
            "a: 1\n b: 2\n",
            "k: - a\n",
            "k: a: b\n",
            "1: x\n",
            "true: x\n",
            "a #b: c\n",
            "a : b\n",
            "a: \"x\"#c\n",
            "a: [x]y\n",
            "- a\n b\n",
            "# nul \0 in a comment\na: 1\n",
            "a: \u{85}x\n",
            "a: \u{feff}\n",
            "a: x\u{2028}y\n",
            "---# c: x\na: 1\n",
            "a: \u{7f}\n",
            "a: 18446744073709551615\n",
            "a: @x\n",
            "a: [1, 2\n",
            "a: 'x\n",
            "- a\n-b\n",
        ];
        for d in docs {
            // Whatever it does, it never disagrees; these it must decline.
            let got = std::panic::catch_unwind(|| read_document(d)).expect("no panic");
            assert!(got.is_none(), "read {d:?} as {got:?}");
        }
    }

    #[test]
    fn long_keys_are_left_to_the_full_parser() {
        let k = "k".repeat(1100);
        for d in [
            format!("{k}: 1\n"),
            format!("a: {{{k}: 1}}\n"),
            format!("\"{k}\": 1\n"),
        ] {
            assert!(read_document(&d).is_none(), "{}", &d[..20]);
        }
        assert!(agree(&format!("{}: 1\n", "k".repeat(900))));
    }

    #[test]
    fn deep_nesting_is_left_to_the_full_parser() {
        let flow = format!("a: {}x{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(read_document(&flow).is_none());
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&format!("{}k:\n", " ".repeat(i)));
        }
        assert!(read_document(&block).is_none());
        let seq: String = (0..10_000)
            .map(|i| format!("{}-\n", " ".repeat(i)))
            .collect();
        assert!(read_document(&seq).is_none());
        // Within the limit, nesting is read.
        let ok = format!("a: {}x{}\n", "[".repeat(20), "]".repeat(20));
        assert!(agree(&ok));
    }

    #[test]
    fn documents_are_numbered_as_the_full_parser_numbers_them() {
        let streams = [
            "",
            "\n",
            "# c\n",
            "---\n",
            "---\n---\n",
            "# c\n---\na: 1\n",
            "a: 1\n---\n",
            "a: 1\n---\n# c\n",
            "a: 1\n--- \nb: 2",
            "a: 1\n---   # c\nb: 2",
            "---\na: 1\n---\nb: 2\n",
            "  # indented comment\n---\na: 1\n",
            "x\n---\n---\ny\n",
            "--- a\n---\nb: c\n",
            "a: \"---\"\n---\nb: '--- x'\n",
        ];
        for s in streams {
            let chunks = split_documents(s).expect("splits");
            let want = full(s);
            // Every document of the full parse is one chunk, in order.
            assert_eq!(chunks.len(), want.len(), "{s:?}: {chunks:?}");
            for (c, w) in chunks.iter().zip(&want) {
                let alone = full(c.text);
                assert_eq!(alone.len(), 1, "{s:?}: chunk {c:?}");
                assert_eq!(&alone[0], w, "{s:?}: chunk {c:?}");
            }
        }
        for s in [
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "\u{feff}a: 1\n",
            "a: 1\r\n",
        ] {
            assert!(split_documents(s).is_none(), "{s:?}");
        }
    }
}
