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

#[test]
fn use_cases_do_not_call_into_each_other() {
    let use_cases = ["account", "contacts", "files", "groups", "mesibo_sync", "notify", "sign_in"];
    for case in use_cases {
        let text = std::fs::read_to_string(domain_src().join(format!("usecase/{case}.rs"))).unwrap();
        for other in use_cases.iter().filter(|o| **o != case) {
            for pattern in [format!("usecase::{other}"), format!("super::{other}")] {
                assert!(!text.contains(&pattern), "usecase/{case}.rs uses {pattern}");
            }
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
