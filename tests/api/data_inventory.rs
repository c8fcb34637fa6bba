//! docs/PRIVACY.md, the data inventory, against the code that makes the data: every key builder of the table has its
//! row (a new kind of item cannot come without one), and every builder a row names exists.

use std::collections::BTreeSet;

/// Builders that read or assemble keys rather than name a kind of item.
const NOT_ITEMS: &[&str] = &["key", "user_value", "user_number", "parse_membership", "readd_bar_name", "parse_contact"];

#[test]
fn the_data_inventory_has_a_row_for_every_kind_of_item() {
    let keys = include_str!("../../shared/src/adapters/dynamodb/keys.rs");
    let builders: BTreeSet<&str> = keys
        .lines()
        .filter_map(|line| line.strip_prefix("pub fn ")?.split('(').next())
        .filter(|name| !NOT_ITEMS.contains(name))
        .collect();
    assert!(builders.len() >= 20, "{builders:?}");
    let inventory = include_str!("../../docs/PRIVACY.md");
    let table = &inventory[inventory.find("## Table items").unwrap()..inventory.find("## Objects").unwrap()];
    let named: BTreeSet<&str> = table.split("`keys::").skip(1).filter_map(|rest| rest.split('`').next()).collect();
    let missing: Vec<_> = builders.difference(&named).collect();
    assert!(missing.is_empty(), "docs/PRIVACY.md has no row for the items of keys::{missing:?}");
    let stale: Vec<_> = named.difference(&builders).collect();
    assert!(stale.is_empty(), "docs/PRIVACY.md names keys::{stale:?}, which keys.rs does not build");
    // Every row says what it holds and for how long.
    for row in table.lines().filter(|l| l.starts_with("| ") && l.contains("`keys::")) {
        assert_eq!(row.matches(" | ").count(), 4, "five columns: {row}");
    }
}

#[test]
fn the_data_inventory_is_linked_from_readme_and_names_the_export() {
    let readme = include_str!("../../README.md");
    assert!(readme.contains("docs/PRIVACY.md"), "README links the inventory");
    let inventory = include_str!("../../docs/PRIVACY.md");
    assert!(inventory.contains("POST /export") && inventory.contains("Art. 13 and 14"));
}
