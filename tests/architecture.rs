//! The dependency rules of the module map (src/lib.rs), checked on the source text:
//!
//! - `domain` is pure: it names no other top-level module;
//! - `pipeline` does not reach back into `http`, which sits on top of it;
//! - top-level modules, and the pipeline's stages, depend on each other one way only.
//!
//! A dependency is any `crate::<module>` path (use trees included, `{a, b::c}` expanded) or a
//! `super::` path that climbs out of the file's module, anywhere in a `.rs` file under src/ (the
//! load generator is a package of its own, crates/tickrouter-bench). Comments count too: a doc link to a module is an
//! arrow a reader follows, and rustdoc resolves it. `super::` inside an inline `mod` (tests) is
//! resolved as if written at file level, which can miss an edge but never invents one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The pipeline's stages, in flow order (src/pipeline/mod.rs).
const STAGES: [&str; 8] = [
    "redis_reader",
    "router",
    "handlers",
    "history",
    "registry",
    "session",
    "job_store",
    "snapshot_store",
];

/// from -> to -> where (`file:line`), sorted so failures read the same on every run.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// One `.rs` file's module path (`src/pipeline/handlers/system.rs` -> pipeline, handlers,
/// system; a `mod.rs` is its directory) and its text.
struct Source {
    display: String,
    module: Vec<String>,
    text: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&src).unwrap();
            let mut module: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            Source {
                display: format!("src/{}", relative.display()),
                module,
                text: fs::read_to_string(&path).unwrap(),
            }
        })
        .filter(
            |source| !matches!(source.module.as_slice(), [root] if root == "lib" || root == "main"),
        )
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every absolute module path a file names, with its line: `crate::` paths as written,
/// `super::` paths resolved against the file's module.
fn references(source: &Source) -> Vec<(Vec<String>, usize)> {
    let text = &source.text;
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line = text[..at].lines().count().max(1);
        for path in use_tree(&text[at + "crate::".len()..]) {
            found.push((path, line));
        }
    }
    for (at, _) in text.match_indices("super::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // the second `super::` of a chain, or part of a longer name
        }
        let mut rest = &text[at..];
        let mut base = source.module.clone();
        while let Some(after) = rest.strip_prefix("super::") {
            base.pop();
            rest = after;
        }
        let line = text[..at].lines().count().max(1);
        for path in use_tree(rest) {
            found.push((base.iter().cloned().chain(path).collect(), line));
        }
    }
    found
}

/// The paths a use tree names: `a::{b, c::d}` -> `[a, b]`, `[a, c, d]`. Stops at the first
/// character that cannot continue a path, so it also reads plain expressions (`a::f(x)`).
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let mut chars = text.char_indices().peekable();
    parse_tree(text, &mut chars)
}

fn parse_tree(
    text: &str,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Vec<Vec<String>> {
    skip_space(chars);
    if chars.peek().is_some_and(|(_, c)| *c == '{') {
        chars.next();
        let mut paths = Vec::new();
        loop {
            paths.extend(parse_tree(text, chars));
            skip_space(chars);
            match chars.next() {
                Some((_, ',')) => continue,
                _ => return paths, // `}`, or text that is not a use tree after all
            }
        }
    }
    if chars.next_if(|(_, c)| *c == '*').is_some() {
        return vec![Vec::new()];
    }
    let start = chars.peek().map_or(text.len(), |(i, _)| *i);
    while chars
        .peek()
        .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_')
    {
        chars.next();
    }
    let end = chars.peek().map_or(text.len(), |(i, _)| *i);
    let name = &text[start..end];
    if name.is_empty() || name == "self" {
        return vec![Vec::new()];
    }
    if text[end..].starts_with("::") {
        chars.next();
        chars.next();
        return parse_tree(text, chars)
            .into_iter()
            .map(|rest| std::iter::once(name.to_owned()).chain(rest).collect())
            .collect();
    }
    vec![vec![name.to_owned()]]
}

fn skip_space(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
        chars.next();
    }
}

/// The edges between the children of `parent` (`[]` = the top-level modules): each file inside
/// one child that names another child.
fn graph(sources: &[Source], parent: &[&str], children: &BTreeSet<String>) -> Graph {
    let depth = parent.len();
    let inside = |module: &[String]| -> Option<String> {
        let prefix_matches = module.len() > depth && module.iter().zip(parent).all(|(a, b)| a == b);
        prefix_matches
            .then(|| module[depth].clone())
            .filter(|child| children.contains(child))
    };
    let mut graph = Graph::new();
    for source in sources {
        let Some(from) = inside(&source.module) else {
            continue;
        };
        for (path, line) in references(source) {
            match inside(&path) {
                Some(to) if to != from => {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_default()
                        .insert(format!("{}:{line}", source.display));
                }
                _ => {}
            }
        }
    }
    graph
}

fn top_level_modules(sources: &[Source]) -> BTreeSet<String> {
    sources.iter().map(|s| s.module[0].clone()).collect()
}

fn describe(graph: &Graph, from: &str, to: &str) -> String {
    let places: Vec<&str> = graph[from][to].iter().map(String::as_str).collect();
    format!("{from} -> {to} ({})", places.join(", "))
}

/// A cycle as its nodes, first repeated at the end, or `None`.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

fn assert_acyclic(graph: &Graph, what: &str) {
    if let Some(cycle) = find_cycle(graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|pair| format!("  {}", describe(graph, &pair[0], &pair[1])))
            .collect();
        panic!(
            "{what} depend on each other in a cycle: {}\n{}",
            cycle.join(" -> "),
            edges.join("\n")
        );
    }
}

fn top_level_graph() -> Graph {
    let sources = sources();
    graph(&sources, &[], &top_level_modules(&sources))
}

fn forbidden_edges(graph: &Graph, from: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    graph
        .get(from)
        .into_iter()
        .flat_map(|edges| edges.keys())
        .filter(|to| !allowed(to))
        .map(|to| format!("  {}", describe(graph, from, to)))
        .collect()
}

#[test]
fn domain_depends_on_nothing_but_itself() {
    let bad = forbidden_edges(&top_level_graph(), "domain", |_| false);
    assert!(
        bad.is_empty(),
        "domain must stay pure, but names:\n{}",
        bad.join("\n")
    );
}

#[test]
fn pipeline_does_not_depend_on_http() {
    let bad = forbidden_edges(&top_level_graph(), "pipeline", |to| to != "http");
    assert!(
        bad.is_empty(),
        "the pipeline must not reach into the HTTP layer above it:\n{}",
        bad.join("\n")
    );
}

#[test]
fn top_level_modules_depend_one_way() {
    let sources = sources();
    let modules = top_level_modules(&sources);
    for expected in ["domain", "pipeline", "http", "app", "config", "cli", "auth"] {
        assert!(
            modules.contains(expected),
            "no module {expected} under src/"
        );
    }
    assert_acyclic(&graph(&sources, &[], &modules), "top-level modules");
}

#[test]
fn pipeline_stages_depend_one_way() {
    let sources = sources();
    let stages: BTreeSet<String> = STAGES.iter().map(|s| s.to_string()).collect();
    let found: BTreeSet<String> = sources
        .iter()
        .filter(|s| s.module.len() > 1 && s.module[0] == "pipeline")
        .map(|s| s.module[1].clone())
        .collect();
    assert_eq!(
        found, stages,
        "the pipeline's stages changed; update STAGES"
    );
    assert_acyclic(&graph(&sources, &["pipeline"], &stages), "pipeline stages");
}

/// The checks above are only as good as the scan; these pin what it must see.
mod scan {
    use super::*;

    fn source(display: &str, module: &[&str], text: &str) -> Source {
        Source {
            display: display.to_owned(),
            module: module.iter().map(|m| m.to_string()).collect(),
            text: text.to_owned(),
        }
    }

    fn names(text: &str) -> Vec<String> {
        use_tree(text).into_iter().map(|p| p.join("::")).collect()
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(names("a::b::C;"), ["a::b::C"]);
        assert_eq!(
            names("{a::{self, b}, c::d::*,\n e};"),
            ["a", "a::b", "c::d", "e"]
        );
        assert_eq!(names("a::f(x)"), ["a::f"]);
    }

    #[test]
    fn crate_and_super_paths_are_found_and_lookalikes_are_not() {
        let file = source(
            "src/pipeline/handlers/system.rs",
            &["pipeline", "handlers", "system"],
            "use super::{Input, HANDLER_QUEUE};\nuse crate::{http::X, domain::y};\n\
             let z = super::super::super::net::f();\nmycrate::http::nope();\n",
        );
        let found: Vec<(String, usize)> = references(&file)
            .into_iter()
            .map(|(path, line)| (path.join("::"), line))
            .collect();
        assert_eq!(
            found,
            [
                ("http::X".to_owned(), 2),
                ("domain::y".to_owned(), 2),
                ("pipeline::handlers::Input".to_owned(), 1),
                ("pipeline::handlers::HANDLER_QUEUE".to_owned(), 1),
                ("net::f".to_owned(), 3),
            ]
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_edges() {
        let sources = [
            source("src/a.rs", &["a"], "use crate::b::B;"),
            source("src/b/mod.rs", &["b"], "/// See [`crate::a`].\nstruct B;"),
            source("src/c.rs", &["c"], "use crate::a;"),
        ];
        let modules = top_level_modules(&sources);
        let g = graph(&sources, &[], &modules);
        assert_eq!(
            find_cycle(&g).unwrap(),
            ["a", "b", "a"],
            "comments count as references"
        );
        assert_eq!(describe(&g, "b", "a"), "b -> a (src/b/mod.rs:1)");
        let acyclic = graph(&sources[..1], &[], &modules);
        assert_eq!(find_cycle(&acyclic), None);
    }
}
