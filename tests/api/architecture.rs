//! The folder tree of the shared crate is its architecture (README, Architecture): these tests keep the arrows
//! pointing inward, use cases apart, and the table's keys in the DynamoDB adapter.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn shared_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// The top-level module a source file belongs to (`model`, `usecase`, …, or `app`/`config`/`error`/`lib`).
fn layer(file: &Path) -> String {
    let relative = file.strip_prefix(shared_src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// A file's code: no tests, no comments.
fn code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap();
    code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// `crate::<module>` paths a file uses.
fn crate_uses(text: &str) -> Vec<String> {
    let code = code(text);
    code.match_indices("crate::")
        .map(|(i, _)| code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect()
}

#[test]
fn dependencies_point_inward() {
    // What each layer may use, besides itself.
    let allowed = |layer: &str| -> &[&str] {
        match layer {
            "error" => &[],
            "model" => &["error"],
            "config" => &["model", "error"],
            "usecase" => &["model", "config", "error"],
            "adapters" => &["usecase", "model", "config", "error"],
            "app" => &["adapters", "usecase", "model", "config", "error"],
            _ => &["app", "adapters", "usecase", "model", "config", "error", "edge"],
        }
    };
    let mut checked = 0;
    for file in sources(&shared_src()) {
        let layer = layer(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_uses(&text) {
            assert!(
                used == layer || allowed(&layer).contains(&used.as_str()),
                "{} ({layer}) uses crate::{used}",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} files found");
}

#[test]
fn edge_reaches_adapters_only_where_it_wires_or_decodes_them() {
    for file in sources(&shared_src().join("edge")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !["lambda.rs", "stream.rs"].contains(&name.as_str()) {
            assert!(!crate_uses(&text).iter().any(|u| u == "adapters" || u == "app"), "{name} names an adapter");
        }
    }
}

/// The use cases are the files of `usecase/` (its folders hold the ports and the shared steps).
fn use_cases() -> Vec<String> {
    let folder = shared_src().join("usecase");
    let mut cases: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|n| n != "mod.rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

#[test]
fn use_cases_do_not_call_into_each_other() {
    let use_cases = use_cases();
    assert!(use_cases.len() >= 8 && use_cases.contains(&"sms_protect".to_owned()), "{use_cases:?}");
    let as_module = |case: &String| vec!["usecase".to_owned(), case.clone()];
    let graph = import_graph();
    let steps = graph.keys().filter(|m| m.starts_with(&["usecase".to_owned(), "steps".to_owned()]));
    // A use case uses no other, and the steps they share use none.
    for module in use_cases.iter().map(as_module).chain(steps.cloned()) {
        for used in graph.get(&module).into_iter().flatten() {
            let other_case = use_cases.iter().map(as_module).any(|case| case == *used && case != module);
            assert!(!other_case, "{} uses {}", module.join("::"), used.join("::"));
        }
    }
}

#[test]
fn only_the_dynamodb_adapter_spells_keys() {
    let adapter = shared_src().join("adapters/dynamodb");
    let key_like = [
        "\"PK\"",
        "\"SK\"",
        "\"GSI1",
        "USER#",
        "GROUP#",
        "TOKEN#",
        "CONTACT#",
        "MEMBER#",
        "MEMBEROF#",
        "LIMIT#",
        "NOTIFY#",
    ];
    for file in sources(&shared_src()).into_iter().filter(|f| !f.starts_with(&adapter)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = code(&text);
        for key in key_like {
            assert!(!code.contains(key), "{} spells {key}", file.display());
        }
    }
}

#[test]
fn only_adapters_write_to_standard_output() {
    // Standard output is where Lambda collects logs and metrics (EMF): rules and use cases reach it only through
    // tracing and the metrics port, so nothing they write can bypass the format or the privacy of either.
    let adapters = shared_src().join("adapters");
    let mut checked = 0;
    for file in sources(&shared_src()).into_iter().filter(|f| !f.starts_with(&adapters)) {
        let code = code(&std::fs::read_to_string(&file).unwrap());
        for writer in ["stdout", "stderr", "print!(", "println!(", "eprint!(", "eprintln!(", "dbg!("] {
            assert!(!code.contains(writer), "{} writes with {writer}", file.display());
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} files found");
}

/// README's architecture tree, generated from the modules' own words: every file of the shared crate (a folder by
/// its `mod.rs`) with the first line of its `//!` doc, so it cannot drift from the code. On a difference the test
/// prints the tree as it should be; `UPDATE_README=1` writes it in.
#[test]
fn readme_architecture_tree_is_each_modules_first_doc_line() {
    const START: &str = "<!-- architecture tree: generated by tests/api/architecture.rs (UPDATE_README=1) -->\n```\n";
    fn first_doc_line(file: &Path) -> String {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text.lines().find_map(|line| line.strip_prefix("//!")).map(str::trim);
        let line = line.filter(|line| !line.is_empty()).unwrap_or_else(|| panic!("{} has no //! doc", file.display()));
        // Its first sentence, when the line holds one; else the line, marked as going on.
        match (line.find(". "), line.ends_with('.')) {
            (Some(end), _) => line[..=end].to_owned(),
            (None, true) => line.to_owned(),
            (None, false) => format!("{line} …"),
        }
    }
    fn walk(dir: &Path, depth: usize, tree: &mut String) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let (label, doc) = match path.is_dir() {
                true => (format!("{name}/"), first_doc_line(&path.join("mod.rs"))),
                false if name == "mod.rs" || name == "lib.rs" => continue,
                false if name.ends_with(".rs") => (name, first_doc_line(&path)),
                false => continue,
            };
            let label = format!("{}{label}", "  ".repeat(depth));
            tree.push_str(&format!("{label:<27} {doc}\n"));
            if path.is_dir() {
                walk(&path, depth + 1, tree);
            }
        }
    }
    let mut tree = format!("{:<27} {}\n", "shared/src/", first_doc_line(&shared_src().join("lib.rs")));
    walk(&shared_src(), 1, &mut tree);

    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme.find(START).expect("README has the generated architecture tree") + START.len();
    let end = start + readme[start..].find("```\n").unwrap();
    if readme[start..end] != tree {
        if std::env::var("UPDATE_README").is_ok() {
            std::fs::write(&readme_path, format!("{}{tree}{}", &readme[..start], &readme[end..])).unwrap();
        } else {
            panic!("README's architecture tree differs from the modules' first doc lines; it should be:\n{tree}");
        }
    }
}

type Module = Vec<String>;
type Graph = BTreeMap<Module, BTreeSet<Module>>;

/// Which module of the crate uses which: every `use` statement (over as many lines as rustfmt wraps it, braces nested
/// to any depth, `crate::`, `super::`, `self::` or a child module's name first) and every `crate::`/`super::` path in
/// code. A path to an item a folder re-exports is a use of the file that defines it. A folder's re-exports of its own
/// children (`pub use child::…`) are its face, not a use, and a child's use of its folder (`super::…`) is within the
/// folder: neither is an edge.
fn import_graph() -> Graph {
    let src = shared_src();
    let module_of = |file: &Path| -> Module {
        let relative = file.strip_prefix(&src).unwrap().with_extension("");
        let mut path: Module = relative.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
        if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
            path.pop();
        }
        path
    };
    let files = sources(&src);
    let file_of: BTreeMap<Module, PathBuf> = files.iter().map(|f| (module_of(f), f.clone())).collect();
    let text_of: BTreeMap<&PathBuf, String> = files.iter().map(|f| (f, std::fs::read_to_string(f).unwrap())).collect();
    // The module a path names: its longest prefix that is a module; an item of a folder is its defining child's.
    let resolve = |path: &[String]| -> Option<Module> {
        let module = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| file_of.contains_key(p))?;
        let Some(item) = path.get(module.len()) else { return Some(module) };
        let defines = |file: &PathBuf| {
            let text = &text_of[file];
            ["struct", "enum", "trait", "type", "fn", "const", "static"].iter().any(|kind| {
                text.contains(&format!("pub {kind} {item}")) || text.contains(&format!("pub {kind} {item}<"))
            })
        };
        let child = file_of.iter().find(|(m, f)| m.len() == module.len() + 1 && m.starts_with(&module) && defines(f));
        Some(child.map_or(module, |(m, _)| m.clone()))
    };
    // `a::b::{c, d::{e, f}}` → a::b::c, a::b::d::e, a::b::d::f.
    fn expand(tree: &str) -> Vec<Vec<String>> {
        let tree = tree.trim();
        let Some(open) = tree.find('{') else {
            let path = tree.split(" as ").next().unwrap_or("").trim();
            return vec![path.split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()];
        };
        let head: Vec<String> =
            tree[..open].split("::").filter(|s| !s.trim().is_empty()).map(|s| s.trim().into()).collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let (mut items, mut depth, mut start) = (vec![], 0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        items
            .into_iter()
            .filter(|item| !item.trim().is_empty())
            .flat_map(expand)
            .map(|tail| head.iter().cloned().chain(tail.into_iter().filter(|s| s != "self")).collect())
            .collect()
    }
    let mut graph = Graph::new();
    for file in &files {
        let me = module_of(file);
        let code = code(&text_of[file]);
        // Where a path starts: the crate's root, an ancestor, this module, or a child module of this one.
        let absolute = |path: &[String]| -> Option<Module> {
            let (first, rest) = path.split_first()?;
            match first.as_str() {
                "crate" => Some(rest.to_vec()),
                "self" => Some(me.iter().chain(rest).cloned().collect()),
                "super" => {
                    let mut base = me.clone();
                    let mut rest = path;
                    while rest.first().map(String::as_str) == Some("super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    Some(base.into_iter().chain(rest.iter().cloned()).collect())
                }
                child if file_of.contains_key(&[me.clone(), vec![child.to_owned()]].concat()) => {
                    Some(me.iter().chain(path).cloned().collect())
                }
                _ => None,
            }
        };
        let mut found: Vec<(bool, Vec<String>)> = vec![];
        let statements = code.split(';');
        for statement in statements {
            let statement = statement.trim();
            let facade = statement.starts_with("pub use ") || statement.starts_with("pub(crate) use ");
            if let Some(tree) = statement.split_once("use ").filter(|(before, _)| {
                matches!(before.trim(), "" | "pub" | "pub(crate)" | "pub(super)") || before.trim().ends_with('}')
            }) {
                found.extend(expand(tree.1).into_iter().map(|path| (facade, path)));
            }
        }
        for line in code.lines() {
            for prefix in ["crate::", "super::"] {
                for (i, _) in line.match_indices(prefix) {
                    if i >= 7 && &line[i - 7..i] == "super::" {
                        continue;
                    }
                    let path: String =
                        line[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
                    found.push((false, path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()));
                }
            }
        }
        for (facade, path) in found {
            let Some(target) = absolute(&path).and_then(|p| resolve(&p)) else { continue };
            let own_descendant = target.len() > me.len() && target.starts_with(&me);
            let own_ancestor = me.starts_with(&target);
            if !(own_ancestor || facade && own_descendant) {
                graph.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// No two modules of the shared crate use each other, directly or around a circle: a module's place in the tree says
/// what it may use, and a circle would make two modules one.
#[test]
fn no_module_imports_circle_back() {
    let graph = import_graph();
    assert!(graph.len() > 60, "only {} modules use others", graph.len());
    // Depth-first, with the path so far: a module met again on it closes a circle.
    fn visit(module: &Module, graph: &Graph, path: &mut Vec<Module>, done: &mut BTreeSet<Module>) {
        if let Some(at) = path.iter().position(|m| m == module) {
            let circle: Vec<String> = path[at..].iter().chain([module]).map(|m| m.join("::")).collect();
            panic!("an import circle: {}", circle.join(" → "));
        }
        if !done.insert(module.clone()) {
            return;
        }
        path.push(module.clone());
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut vec![], &mut done);
    }
}

/// A file a reader can hold in their head: no source of the product (the shared crate, the functions, the local
/// stack `make dev` runs) is longer than 500 lines.
#[test]
fn no_product_file_is_longer_than_500_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for folder in ["shared/src", "functions", "infra/local/src"] {
        for file in sources(&root.join(folder)) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            assert!(lines <= 500, "{} has {lines} lines", file.display());
            checked += 1;
        }
    }
    assert!(checked > 90, "only {checked} files found");
}
