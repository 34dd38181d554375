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
    let code = code_of(&src().join("verdict.rs"));
    for key_access in [".get(\"", "detail[", ".pointer(", "serde_json", "json!"] {
        assert!(
            !code.contains(key_access),
            "verdict.rs reads a stage detail by string key ({key_access})"
        );
    }
}

#[test]
fn every_module_says_what_it_does() {
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.trim_start().starts_with("//!"),
                    "{} has no //! header",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn probe_and_plan_share_one_setup() {
    let code = code_of(&src().join("run.rs"));
    for entry in ["pub async fn probe(", "pub async fn plan("] {
        let body = &code[code
            .find(entry)
            .unwrap_or_else(|| panic!("{entry} in run.rs"))..];
        let body = &body[..body.find("\n}").unwrap()];
        assert!(
            body.contains("setup(settings)"),
            "{entry} does not call setup()"
        );
    }
}
