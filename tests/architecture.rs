//! The shape the code promises (issue 7): `probe/` knows nothing of
//! `config/`, neither folder has an import circle, the verdict reads typed
//! stage results rather than JSON keys, and a module's `//!` header exists.
//!
//! These read the source text, so a violation fails here with the file and
//! the offending reference, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Write `text` to `rel` under `root`, making its folders (a temp crate).
fn put(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Every `.rs` file below `root`, in path order.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A file's code without its unit tests, block comments and line comments.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            // `//` inside a string literal (a URL) is kept: only leading comments go.
            Some(i) if l[..i].trim().is_empty() => "",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `.rs` files of a folder, by module name (`mod.rs` is `mod`).
fn modules(dir: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.insert(name, path);
        } else if path.join("mod.rs").exists() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, path.join("mod.rs"));
        }
    }
    out
}

/// The first path segments a file reaches through `prefix` (`super::`,
/// `crate::probe::`), including each entry of a `prefix{a, b::c}` group.
fn references(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        // Not a longer path ending in the prefix (`super::super::` counts once).
        let after = &rest[i + prefix.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    out.insert(first.to_owned());
                }
            }
        } else {
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                out.insert(ident);
            }
        }
        rest = &rest[i + prefix.len()..];
    }
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The items `mod.rs` itself defines (not its submodules).
fn defined_in(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line
            .trim_start()
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        for kw in [
            "struct ", "enum ", "fn ", "const ", "type ", "trait ", "static ",
        ] {
            if let Some(rest) = line.strip_prefix(kw) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

/// The sibling-module graph of a folder; panics on a reference that goes
/// through `mod.rs`'s re-exports when `strict`.
fn graph(dir: &str, strict: bool) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(dir);
    let own = defined_in(&code_of(&mods["mod"]));
    let mut edges = BTreeMap::new();
    for (name, path) in &mods {
        let code = code_of(path);
        let mut refs = references(&code, "super::");
        refs.extend(references(&code, &format!("crate::{dir}::")));
        let mut to = BTreeSet::new();
        for r in refs {
            if r == "super" || r == "self" || r == *name {
                continue;
            }
            if mods.contains_key(&r) {
                to.insert(r);
            } else if own.contains(&r) {
                to.insert("mod".to_owned());
            } else if name != "mod" {
                assert!(
                    !strict,
                    "src/{dir}/{name}.rs reaches {r} through the re-exports of src/{dir}/mod.rs; import it from its module"
                );
            }
        }
        if name == "mod" {
            // `pub mod x;` declares, it does not import; re-exports do.
            to = references(&code, "pub use ")
                .into_iter()
                .filter(|r| mods.contains_key(r))
                .collect();
            let uses: BTreeSet<String> = code
                .lines()
                .filter(|l| {
                    l.trim_start().starts_with("pub use ") || l.trim_start().starts_with("use ")
                })
                .filter_map(|l| {
                    let path = l
                        .trim_start()
                        .trim_start_matches("pub ")
                        .trim_start_matches("use ");
                    path.split("::").next().map(str::to_owned)
                })
                .filter(|m| mods.contains_key(m))
                .collect();
            to.extend(uses);
        }
        edges.insert(name.clone(), to);
    }
    edges
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn probe_does_not_know_config() {
    for (name, path) in modules("probe") {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("crate::config"),
            "src/probe/{name}.rs names crate::config: stages get what they need handed in"
        );
        let code = code_of(&path);
        for read in ["std::fs::", "tokio::fs::", "HostRoot", "File::open"] {
            assert!(
                !code.contains(read),
                "src/probe/{name}.rs reads files ({read}): node discovery does that"
            );
        }
    }
}

#[test]
fn no_import_circle_in_probe() {
    let edges = graph("probe", true);
    assert!(
        edges["sequence"].contains("auth"),
        "the graph is read: {edges:?}"
    );
    assert_eq!(find_cycle(&edges), None, "{edges:#?}");
}

#[test]
fn no_import_circle_in_config() {
    let edges = graph("config", false);
    assert_eq!(find_cycle(&edges), None, "{edges:#?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    edges.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    edges.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&edges).unwrap().len(), 4);
    edges.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
    assert_eq!(
        references(
            "use super::{a, b::{C, D}, e::F};\nlet x = super::g::h();",
            "super::"
        ),
        BTreeSet::from(["a", "b", "e", "g"].map(str::to_owned))
    );
}

#[test]
fn the_verdict_reads_typed_results_only() {
    for (name, path) in modules("verdict") {
        let code = code_of(&path);
        for key_access in [".get(\"", "detail[", ".pointer(", "serde_json", "json!"] {
            assert!(
                !code.contains(key_access),
                "verdict/{name}.rs reads a stage detail by string key ({key_access})"
            );
        }
    }
}

/// Per-code advice written outside the advice table: a `Code::X => "..."`
/// or `=> format!(` arm (code.rs names the codes, which is not advice), or
/// an `explain` row whose hint does not end in the table's `{fix}`.
fn advice_outside_the_table(file: &str, code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code.lines() {
        let Some(arm) = line.match_indices("Code::").map(|(i, _)| i).find(|&i| {
            // `Code::`, not `ResponseCode::`.
            !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        }) else {
            continue;
        };
        let Some(arrow) = line[arm..].find("=>") else {
            continue;
        };
        let body = line[arm + arrow + 2..].trim_start();
        if body.starts_with('"') || body.starts_with("format!(") {
            found.push(format!("{file}: {}", line.trim()));
        }
    }
    if file.ends_with("explain/table.rs") {
        let rows = code.split("Pattern {").skip(2);
        for row in rows {
            if let Some(hint) = row.lines().find(|l| l.trim_start().starts_with("hint: \"")) {
                if !hint.contains("{fix}") {
                    found.push(format!("{file}: a row's own fix: {}", hint.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn every_code_is_advised_from_the_one_table() {
    let mut found = Vec::new();
    for path in rust_files(&src()) {
        let rel = path
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == "code.rs" || rel == "verdict/advice.rs" {
            continue;
        }
        found.extend(advice_outside_the_table(&rel, &code_of(&path)));
    }
    assert!(
        found.is_empty(),
        "advice outside verdict/advice.rs:\n{}",
        found.join("\n")
    );
    // The verdict, explain and summarize's cluster verdicts word theirs from the table.
    for (file, call) in [
        ("verdict/judge.rs", "advice(code)"),
        ("explain/mod.rs", "advice::advice("),
        ("explain/mod.rs", "advice::case"),
        ("verdict/cluster.rs", "advice::fleet_cause("),
    ] {
        assert!(
            code_of(&src().join(file)).contains(call),
            "{file} does not call {call}"
        );
    }
}

#[test]
fn the_advice_check_sees_advice_written_elsewhere() {
    let arm = "        Code::TcpRefused => \"check the port\".to_owned(),";
    assert_eq!(advice_outside_the_table("summary.rs", arm).len(), 1);
    let arm = "        (Code::TlsUntrusted, _) => format!(\"the CA is missing on {node}\"),";
    assert_eq!(advice_outside_the_table("summary.rs", arm).len(), 1);
    let table = "Pattern {\n}\nPattern {\n    hint: \"nothing listens at {addr}: {fix}\",\n}\nPattern {\n    hint: \"nothing listens: check the port\",\n}";
    assert_eq!(advice_outside_the_table("explain/table.rs", table).len(), 1);
    assert!(advice_outside_the_table("summary.rs", "let c = Code::TcpRefused;").is_empty());
}

#[test]
fn every_module_says_what_it_does() {
    for path in rust_files(&src()) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no //! header",
            path.display()
        );
    }
}

#[test]
fn probe_and_plan_share_one_setup() {
    let code = code_of(&src().join("run/mod.rs"));
    for entry in ["pub async fn probe(", "pub async fn plan("] {
        let body = &code[code
            .find(entry)
            .unwrap_or_else(|| panic!("{entry} in run/mod.rs"))..];
        let body = &body[..body.find("\n}").unwrap()];
        assert!(
            body.contains("setup(settings)"),
            "{entry} does not call setup()"
        );
    }
}

/// Every module of the crate under `root` (a `src/` folder), by path
/// (`config::net::proxy::daemon_env`; a folder's `mod.rs` is the folder's path,
/// `lib.rs` the empty path), with its file. `main.rs` is the binary, not
/// the library, and is left out.
fn crate_modules(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for path in rust_files(root) {
        let rel = path.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match parts.last().map(String::as_str) {
            Some("main") if parts.len() == 1 => continue,
            Some("lib" | "mod") => {
                parts.pop();
            }
            _ => {}
        }
        out.insert(parts.join("::"), path);
    }
    out
}

/// The module a path names: its longest prefix that is a module.
fn resolve(mods: &BTreeMap<String, PathBuf>, segments: &[&str]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

/// The module graph of the crate under `root`: an edge for every
/// `crate::a::b`, `super::x` and `self::x` path and every `use child::`
/// (a child module by its own name) in a module's code. A folder does not
/// depend on its children by declaring them (`pub mod x;`) or re-exporting
/// them (`pub use x::Item;` in its `mod.rs`), only by using them.
fn crate_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = crate_modules(root);
    let mut edges = BTreeMap::new();
    for (name, path) in &mods {
        let mut code = code_of(path);
        if path.ends_with("mod.rs") {
            // A folder's re-exports are its facade, not a use: `pub use
            // child::Item` lets callers skip the child's name.
            code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("pub use "))
                .collect::<Vec<_>>()
                .join("\n");
        }
        let own: Vec<&str> = if name.is_empty() {
            Vec::new()
        } else {
            name.split("::").collect()
        };
        // A file's `super` is its parent module; a folder's `mod.rs` is the
        // folder itself, so its `super` is the folder's parent all the same.
        let parent = &own[..own.len().saturating_sub(1)];
        let mut to = BTreeSet::new();
        let mut add = |base: &[&str], paths: &BTreeSet<String>| {
            for p in paths {
                let mut segs: Vec<&str> = base.to_vec();
                segs.extend(p.split("::"));
                if let Some(m) = resolve(&mods, &segs)
                    && m != *name
                {
                    to.insert(m);
                }
            }
        };
        add(&[], &full_paths(&code, "crate::"));
        add(parent, &full_paths(&code, "super::"));
        add(&own, &full_paths(&code, "self::"));
        // `use child::x` / `pub use child::x` of a declared child module.
        let children: BTreeSet<String> = full_paths(&code, "use ")
            .into_iter()
            .filter(|p| {
                let mut segs = own.clone();
                segs.push(p.split("::").next().unwrap_or(""));
                mods.contains_key(&segs.join("::"))
            })
            .collect();
        add(&own, &children);
        edges.insert(name.clone(), to);
    }
    edges
}

/// Every module path reached through `prefix`, written out in full: a
/// `prefix a::{b::c, d::{e, f}}` group gives `a::b::c`, `a::d::e` and
/// `a::d::f`; a path ends at the first character that is not part of an
/// identifier or `::`.
fn full_paths(code: &str, prefix: &str) -> BTreeSet<String> {
    /// The identifier path at the start of `s`, and what follows it.
    fn path_at(s: &str) -> (&str, &str) {
        let b = s.as_bytes();
        let mut end = 0;
        while end < b.len() {
            if b[end].is_ascii_alphanumeric() || b[end] == b'_' {
                end += 1;
            } else if s[end..].starts_with("::")
                && s[end + 2..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                end += 2;
            } else {
                break;
            }
        }
        (&s[..end], &s[end..])
    }
    /// The paths of a use tree at the start of `s`, each behind `head`.
    fn expand(head: &str, s: &str, out: &mut BTreeSet<String>) {
        let join = |p: &str| {
            if head.is_empty() {
                p.to_owned()
            } else if p.is_empty() {
                head.to_owned()
            } else {
                format!("{head}::{p}")
            }
        };
        let s = s.trim_start();
        if let Some(group) = s.strip_prefix('{') {
            for item in split_top_level(&group[..matching_brace(group)]) {
                expand(head, item, out);
            }
            return;
        }
        let (path, rest) = path_at(s);
        match rest.strip_prefix("::") {
            Some(group) if group.starts_with('{') => expand(&join(path), group, out),
            _ => {
                out.insert(join(path));
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        // Not the tail of a longer path or identifier (`x::crate::`, `reuse `).
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        expand("", rest, &mut out);
    }
    out.retain(|p| !p.is_empty() && p != "self" && p != "super");
    out
}

#[test]
fn no_import_circle_in_the_crate() {
    let edges = crate_graph(&src());
    assert!(
        edges["probe::sequence"].contains("probe::auth")
            && edges["config::net::proxy::daemon_env"].contains("config::systemd"),
        "the graph is read: {edges:#?}"
    );
    let mut circles = Vec::new();
    let mut edges = edges;
    // Every circle, not just the first: cut each one found at its last edge.
    while let Some(c) = find_cycle(&edges) {
        let (from, to) = (&c[c.len() - 2], &c[c.len() - 1]);
        edges.get_mut(from).unwrap().remove(to);
        circles.push(c.join(" -> "));
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_crate_graph_sees_a_circle_through_folders() {
    let dir = tempfile::tempdir().unwrap();
    let write = |p: &str, text: &str| put(dir.path(), p, text);
    write("lib.rs", "//! x\npub mod a;\npub mod b;\n");
    write(
        "a/mod.rs",
        "//! a\npub mod inner;\npub use inner::Thing;\nuse inner::helper;\n",
    );
    write(
        "a/inner.rs",
        "//! a::inner\nuse crate::b::{other::{X, Y}};\n",
    );
    write("b/mod.rs", "//! b\npub mod other;\n");
    write("b/other.rs", "//! b::other\nuse crate::a::Thing;\n");
    let edges = crate_graph(dir.path());
    assert_eq!(
        edges["a"],
        BTreeSet::from(["a::inner".to_owned()]),
        "{edges:#?}"
    );
    assert_eq!(find_cycle(&edges).map(|c| c.len()), Some(4), "{edges:#?}");
    write("b/other.rs", "//! b::other\nuse crate::Thing;\n");
    assert_eq!(find_cycle(&crate_graph(dir.path())), None);
}

/// The files of `config` (under the `src/` folder `root`) that name `crate::probe`.
fn config_naming_probe(root: &Path) -> Vec<PathBuf> {
    crate_modules(root)
        .into_iter()
        .filter(|(name, path)| {
            name.starts_with("config")
                && std::fs::read_to_string(path)
                    .unwrap()
                    .contains("crate::probe")
        })
        .map(|(_, path)| path)
        .collect()
}

#[test]
fn config_does_not_know_probe() {
    let found = config_naming_probe(&src());
    assert!(
        found.is_empty(),
        "{found:?} name crate::probe: config hands facts on, it does not probe"
    );
}

#[test]
fn the_config_check_sees_a_probe_import() {
    let dir = tempfile::tempdir().unwrap();
    let write = |p: &str, text: &str| put(dir.path(), p, text);
    write("lib.rs", "//! x\npub mod config;\npub mod probe;\n");
    write("config/mod.rs", "//! config\npub mod net;\n");
    write(
        "config/net/resolv.rs",
        "//! resolv\nuse crate::probe::dns::HostTable;\n",
    );
    write("probe/mod.rs", "//! probe\nuse crate::config::net;\n");
    assert_eq!(
        config_naming_probe(dir.path()),
        [dir.path().join("config/net/resolv.rs")]
    );
    write(
        "config/net/resolv.rs",
        "//! resolv\nuse crate::netconf::HostTable;\n",
    );
    assert!(config_naming_probe(dir.path()).is_empty());
}

/// Where a file touches the process's standard input or output.
fn standard_io(code: &str) -> Option<&'static str> {
    ["stdin()", "stdout()", "println!", "print!("]
        .into_iter()
        .find(|s| code.contains(s))
}

#[test]
fn only_the_app_uses_stdin_and_stdout() {
    for (name, path) in crate_modules(&src()) {
        if name == "app" {
            continue;
        }
        assert_eq!(
            standard_io(&code_of(&path)),
            None,
            "{} uses standard input or output: only app.rs and main.rs do; hand in a reader or writer",
            path.display()
        );
    }
    assert_eq!(standard_io("let x = 1;"), None);
    assert_eq!(
        standard_io("io::stdin().read_to_string(&mut s)"),
        Some("stdin()")
    );
    assert_eq!(standard_io("println!(\"{x}\")"), Some("println!"));
}
