#!/usr/bin/env python3
"""template.yaml with every `Fn::ForEach` expanded, as the AWS::LanguageExtensions transform expands it, printed as
YAML (short-form tags kept). checkov reads templates as written and does not expand Fn::ForEach: `make lint-deploy`
gives it this expansion too, so the looped log groups and alarms are checked as before.

    infra/expand_template.py [template.yaml]          the expanded template
    infra/expand_template.py OLD NEW --diff           Parameters, Globals, Conditions, Rules, Resources and Outputs of both, expanded, compared

Only what template.yaml uses: a literal list as the collection, `${Identifier}` in keys and strings (`&{...}` too).
"""
import difflib
import json
import re
import sys

import yaml


class Tagged:
    """A short-form intrinsic (`!Ref X`), kept as written."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __eq__(self, other):
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)


class Loader(yaml.SafeLoader):
    pass


def construct(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged("!" + suffix, value)


Loader.add_multi_constructor("!", construct)


class Dumper(yaml.SafeDumper):
    pass


def represent(dumper, tagged):
    if isinstance(tagged.value, list):
        return dumper.represent_sequence(tagged.tag, tagged.value)
    if isinstance(tagged.value, dict):
        return dumper.represent_mapping(tagged.tag, tagged.value)
    return dumper.represent_scalar(tagged.tag, tagged.value)


Dumper.add_representer(Tagged, represent)


def substitute(value, name, item):
    """Every `${name}` and `&{name}` in keys and strings replaced by the item (`&{}`: its alphanumerics only)."""
    if isinstance(value, str):
        return value.replace("${%s}" % name, item).replace("&{%s}" % name, re.sub(r"[^A-Za-z0-9]", "", item))
    if isinstance(value, Tagged) and value.tag == "!Ref" and value.value == name:
        return item
    if isinstance(value, Tagged):
        return Tagged(value.tag, substitute(value.value, name, item))
    if isinstance(value, list):
        return [substitute(v, name, item) for v in value]
    if isinstance(value, dict):
        return {substitute(k, name, item): substitute(v, name, item) for k, v in value.items()}
    return value


def expand(value):
    """The value with every `Fn::ForEach::<name>: [Identifier, [items], {output key: value}]` expanded in place."""
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, Tagged):
        return Tagged(value.tag, expand(value.value))
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if isinstance(key, str) and key.startswith("Fn::ForEach::"):
            identifier, collection, body = item
            if not isinstance(collection, list):
                sys.exit(f"{key}: only a literal list is supported as the collection")
            for element in collection:
                for k, v in expand(substitute(body, identifier, element)).items():
                    if k in out or k in value:
                        sys.exit(f"{key} makes {k}, which is already there")
                    out[k] = v
        else:
            out[key] = expand(item)
    return out


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


def dump(document):
    return yaml.dump(document, Dumper=Dumper, sort_keys=True, width=1000, allow_unicode=True)


def normal(value):
    """A `!Sub` of a JSON document (the dashboard's body) as its parsed JSON, so that layout is no difference, and
    `!Sub '${Name}'` as the `!Ref Name` it equals (a loop writes `!Sub '${${Identifier}Function}'`: cfn-lint
    substitutes no identifier inside a `!Ref`)."""
    if isinstance(value, Tagged) and value.tag == "!Sub" and isinstance(value.value, str):
        whole = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", value.value)
        if whole:
            return Tagged("!Ref", whole.group(1))
        try:
            return Tagged("!Sub", json.dumps(json.loads(value.value), sort_keys=True))
        except ValueError:
            return value
    if isinstance(value, Tagged):
        return Tagged(value.tag, normal(value.value))
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def main(args):
    if "--diff" in args:
        old, new = [normal(expand(load(p))) for p in args if p != "--diff"]
        changed = False
        for section in ["Parameters", "Globals", "Conditions", "Rules", "Resources", "Outputs"]:
            a, b = old.get(section, {}), new.get(section, {})
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    changed = True
                    print(f"== {section}.{key}")
                    lines = difflib.unified_diff(
                        dump({key: a[key]} if key in a else {}).splitlines(),
                        dump({key: b[key]} if key in b else {}).splitlines(),
                        f"old {section}",
                        f"new {section}",
                        lineterm="",
                    )
                    print("\n".join(lines))
            print(f"{section}: {len(a)} before, {len(b)} after")
        return 1 if changed else 0
    print(dump(expand(load(args[0] if args else "template.yaml"))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
