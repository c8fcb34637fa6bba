//! template.yaml's `Fn::ForEach` loops, expanded as `AWS::LanguageExtensions` expands them (template::expand_for_each):
//! every reader of the template (the local stack, the permissions and contract tests) sees the resources they make.

use local_stack::template::{expand_for_each, template};
use serde_yaml_ng::Value;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn for_each_makes_one_output_per_item_with_the_identifier_replaced_in_keys_values_and_tags() {
    let written = yaml(
        "Resources:\n  Kept: {Type: X}\n  Fn::ForEach::Logs:\n    - Name\n    - [Login, Get.Contacts]\n    \
         - ${Name}Logs: {Type: Y, Properties: {Of: !Ref '${Name}Function', Tag: '&{Name}', It: !Ref Name, \
         Keep: !Ref Kept}}\n",
    );
    let expanded = expand_for_each(&written).unwrap();
    let expected = yaml(
        "Resources:\n  Kept: {Type: X}\n  LoginLogs: {Type: Y, Properties: {Of: !Ref LoginFunction, Tag: Login, \
         It: Login, Keep: !Ref Kept}}\n  Get.ContactsLogs: {Type: Y, Properties: {Of: !Ref Get.ContactsFunction, \
         Tag: GetContacts, It: Get.Contacts, Keep: !Ref Kept}}\n",
    );
    assert_eq!(expanded, expected);
}

#[test]
fn for_each_loops_nest_and_a_key_made_twice_is_an_error() {
    let nested = yaml(
        "Fn::ForEach::A:\n  - F\n  - [Login, Verify]\n  - Fn::ForEach::B:\n      - M\n      - [Errors, Throttles]\n      \
         - ${F}${M}: {Metric: '${M}', Function: '${F}'}\n",
    );
    let expanded = expand_for_each(&nested).unwrap();
    let keys: Vec<&str> = expanded.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(keys, ["LoginErrors", "LoginThrottles", "VerifyErrors", "VerifyThrottles"]);
    assert_eq!(expanded["VerifyThrottles"]["Function"], "Verify");
    let twice = yaml("LoginLogs: {}\nFn::ForEach::A: [F, [Login], {'${F}Logs': {}}]\n");
    assert!(expand_for_each(&twice).unwrap_err().contains("LoginLogs"));
    assert!(expand_for_each(&yaml("Fn::ForEach::A: [F, !Ref List, {}]")).is_err());
}

#[test]
fn the_template_expands() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    assert!(resources.keys().all(|k| !k.as_str().unwrap().starts_with("Fn::ForEach::")));
    assert_eq!(template["Resources"]["LoginFunctionLogs"]["Type"], "AWS::Logs::LogGroup");
}
