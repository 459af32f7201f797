//! The source tree checks itself: no two modules of `engine/src` or `operators/src` import
//! each other (a module imports another when its code names a path into it through
//! `crate::` or `super::`; its own tests are left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of a crate's `src`: its path (`pipeline::sink`) and its file.
fn modules(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source folder") {
            let p = entry.expect("an entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), p);
            }
        }
    }
    out
}

/// The identifier path starting at `s` (`a::b::c`), as segments.
fn path_at(s: &str) -> Vec<&str> {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(s.len());
    s[..end].split("::").filter(|p| !p.is_empty()).collect()
}

/// The modules each module imports.
fn imports(mods: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut g = BTreeMap::new();
    for (m, file) in mods {
        let text = std::fs::read_to_string(file).expect("readable");
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let here: Vec<&str> = if m.is_empty() { Vec::new() } else { m.split("::").collect() };
        let mut deps = BTreeSet::new();
        for (i, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
            if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // the middle of a longer path (`super::super::`, `x::crate`)
            }
            let segs = path_at(&code[i..]);
            let (mut base, rest): (Vec<&str>, &[&str]) = if segs[0] == "crate" {
                (Vec::new(), &segs[1..])
            } else {
                // `super` is the parent module, whether the file is `x.rs` or `x/mod.rs`.
                let ups = segs.iter().take_while(|s| **s == "super").count();
                (here[..here.len().saturating_sub(ups)].to_vec(), &segs[ups..])
            };
            base.extend_from_slice(rest);
            // The longest prefix that names a module.
            let found = (0..=base.len()).rev().map(|k| base[..k].join("::")).find(|c| mods.contains_key(c));
            if let Some(d) = found.filter(|d| d != m) {
                deps.insert(d);
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

#[test]
fn no_two_modules_import_each_other() {
    let top = std::env::var("HIGHWATER_LAYOUT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let mut cycles = Vec::new();
    for krate in ["engine/src", "operators/src"] {
        let mods = modules(&top.join(krate));
        assert!(mods.len() > 10, "{krate}: {} modules", mods.len());
        let g = imports(&mods);
        assert!(g.values().map(BTreeSet::len).sum::<usize>() > 20, "{krate}: the imports were found");
        for (a, deps) in &g {
            for b in deps {
                if a < b && g.get(b).is_some_and(|d| d.contains(a)) {
                    cycles.push(format!("{krate}: `{a}` and `{b}` import each other"));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}
