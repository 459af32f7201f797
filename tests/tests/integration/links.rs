//! The book and the READMEs link only inside the repository: every Markdown link is
//! relative, names a file or folder that exists, and an anchor names a heading of its
//! target (GitHub's slugs: lower case, spaces to `-`, punctuation dropped).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The documents: the READMEs, ARCHITECTURE.md and the book.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "benches/README.md"]
        .iter()
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect();
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            docs.push(p);
        }
    }
    docs.sort();
    docs
}

/// The targets of the inline links `[text](target)` and images of `markdown`, outside
/// code blocks and code spans.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold examples, not links.
        let text: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_link_of_the_docs_stays_inside_the_repository_and_resolves() {
    let mut broken = Vec::new();
    let docs = documents();
    assert!(docs.len() > 10, "the book is there: {docs:?}");
    let mut seen = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for link in links(&text) {
            seen += 1;
            let name = doc.strip_prefix(root()).unwrap_or(doc).display().to_string();
            if link.contains("://") || link.starts_with("mailto:") || link.starts_with("//") {
                broken.push(format!("{name}: `{link}` leaves the repository"));
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if file.is_empty() { doc.clone() } else { doc.parent().unwrap().join(file) };
            if !target.exists() {
                broken.push(format!("{name}: `{link}`: no such file"));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let headings = anchors(&std::fs::read_to_string(&target).unwrap());
                if !headings.contains(anchor) {
                    broken.push(format!("{name}: `{link}`: no heading `#{anchor}` in {}", target.display()));
                }
            }
        }
    }
    assert!(seen > 20, "links were found ({seen})");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug(" The panes of your own job"), "the-panes-of-your-own-job");
    assert_eq!(slug("Seeing the panes: pane diagrams"), "seeing-the-panes-pane-diagrams");
    assert_eq!(slug("`highwater run`: windowed jobs"), "highwater-run-windowed-jobs");
    assert_eq!(links("see [a](b.md#c) and `[x](y)`"), vec!["b.md#c"]);
}
