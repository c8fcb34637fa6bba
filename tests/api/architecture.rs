//! The folder tree of the domain crate is its architecture (README, Architecture): these tests keep the arrows
//! pointing inward, use cases apart, and the table's keys in the DynamoDB adapter.

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

fn domain_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// The top-level module a source file belongs to (`model`, `usecase`, …, or `app`/`config`/`error`/`lib`).
fn layer(file: &Path) -> String {
    let relative = file.strip_prefix(domain_src()).unwrap();
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
    for file in sources(&domain_src()) {
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
    for file in sources(&domain_src().join("edge")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !["lambda.rs", "stream.rs"].contains(&name.as_str()) {
            assert!(!crate_uses(&text).iter().any(|u| u == "adapters" || u == "app"), "{name} names an adapter");
        }
    }
}

/// The use cases are the files of `usecase/` (its folders hold the ports and the shared steps).
fn use_cases() -> Vec<String> {
    let folder = domain_src().join("usecase");
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
    for case in &use_cases {
        let text = std::fs::read_to_string(domain_src().join(format!("usecase/{case}.rs"))).unwrap();
        for other in use_cases.iter().filter(|o| *o != case) {
            for pattern in [format!("usecase::{other}"), format!("super::{other}")] {
                assert!(!text.contains(&pattern), "usecase/{case}.rs uses {pattern}");
            }
        }
    }
    // The steps use cases share call into no use case either.
    for step in sources(&domain_src().join("usecase/steps")) {
        let text = code(&std::fs::read_to_string(&step).unwrap());
        for case in &use_cases {
            let pattern = format!("usecase::{case}::");
            assert!(!text.contains(&pattern), "{} uses {pattern}", step.display());
        }
    }
}

#[test]
fn only_the_dynamodb_adapter_spells_keys() {
    let adapter = domain_src().join("adapters/dynamodb");
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
    for file in sources(&domain_src()).into_iter().filter(|f| !f.starts_with(&adapter)) {
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
    let adapters = domain_src().join("adapters");
    let mut checked = 0;
    for file in sources(&domain_src()).into_iter().filter(|f| !f.starts_with(&adapters)) {
        let code = code(&std::fs::read_to_string(&file).unwrap());
        for writer in ["stdout", "stderr", "print!(", "println!(", "eprint!(", "eprintln!(", "dbg!("] {
            assert!(!code.contains(writer), "{} writes with {writer}", file.display());
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} files found");
}

/// README's architecture tree, generated from the modules' own words: every file of the domain crate (a folder by
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
    let mut tree = format!("{:<27} {}\n", "shared/src/", first_doc_line(&domain_src().join("lib.rs")));
    walk(&domain_src(), 1, &mut tree);

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

/// No two modules of the domain crate use each other, directly or around a circle: a module's place in the tree
/// says what it may use, and a circle would make two modules one. A folder's re-exports of its own children
/// (`pub use child::…`) are its face, not a use.
#[test]
fn no_module_imports_circle_back() {
    let src = domain_src();
    let module_of = |file: &Path| -> Vec<String> {
        let relative = file.strip_prefix(&src).unwrap().with_extension("");
        let mut path: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
        if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
            path.pop();
        }
        path
    };
    let files = sources(&src);
    let modules: std::collections::BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    // The module a path names: its longest prefix that is a module file.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| modules.contains(prefix))
    };
    let segments = |text: &str| -> Vec<Vec<String>> {
        // `a::b::{c, d::e}` → a::b::c, a::b::d::e (one level of braces, which is all this crate writes).
        let head: String = text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        let head: Vec<String> = head.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
        match text[text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(text.len())..]
            .strip_prefix('{')
        {
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .map(|item| {
                    let item = item.trim().split(" as ").next().unwrap_or("");
                    head.iter().cloned().chain(item.split("::").map(str::to_owned)).collect()
                })
                .collect(),
            None => vec![head],
        }
    };
    let mut graph: std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>> =
        Default::default();
    for file in &files {
        let me = module_of(file);
        let code = code(&std::fs::read_to_string(file).unwrap());
        for line in code.lines().map(str::trim) {
            let facade = line.starts_with("pub use ") || line.starts_with("pub(crate) use ");
            let mut found = vec![];
            for (i, _) in line.match_indices("crate::") {
                found.extend(segments(&line[i + 7..]));
            }
            for (i, _) in line.match_indices("super::") {
                if i >= 7 && &line[i - 7..i] == "super::" {
                    continue;
                }
                let mut base = me.clone();
                let mut rest = &line[i..];
                while let Some(next) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = next;
                }
                found.extend(segments(rest).into_iter().map(|s| base.iter().cloned().chain(s).collect()));
            }
            for path in found {
                let Some(target) = resolve(&path) else { continue };
                let own_child = target.len() > me.len() && target.starts_with(&me);
                if target != me && !(facade && own_child) && !me.starts_with(&target) {
                    graph.entry(me.clone()).or_default().insert(target);
                }
            }
        }
    }
    assert!(graph.len() > 30, "only {} modules use others", graph.len());
    // Depth-first, with the path so far: a module met again on it closes a circle.
    fn visit(
        module: &Vec<String>,
        graph: &std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut std::collections::BTreeSet<Vec<String>>,
    ) {
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
    let mut done = Default::default();
    for module in graph.keys() {
        visit(module, &graph, &mut vec![], &mut done);
    }
}

/// A file a reader can hold in their head: no source of the product (the domain crate, the functions, the local
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
