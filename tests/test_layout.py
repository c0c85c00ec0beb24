"""The code's shape, as the architecture rules state it: small functions with few
parameters (the library, the apps, the converter and the benchmarks), one job per protocol
module, no private names or test code used from outside, the models' layer below the
data's, policy names spelled only in their registry and policy kinds read only from
their entry."""

import ast
import dataclasses
import glob
import os

import pytest

from eigjax.protocol import POLICIES, Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES, MAX_PARAMS, MAX_PROTOCOL_MODULE = 60, 8, 400


def _modules(*packages: str) -> list[str]:
    return sorted(
        path
        for package in packages
        for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"), recursive=True)
    )


def _tree(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read(), path)


def _functions(path: str):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _imports(path: str):
    """(module, name or None) of every import of `path`."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node.module, alias.name) for alias in node.names)


@pytest.mark.parametrize(
    "path",
    _modules("eigjax", "experiments", "weights_convert", "benchmarks"),
    ids=lambda p: os.path.relpath(p, ROOT),
)
def test_functions_are_short_and_take_few_parameters(path):
    for fn in _functions(path):
        a = fn.args
        params = len(a.posonlyargs + a.args + a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
        lines = fn.end_lineno - fn.lineno + 1
        assert lines <= MAX_LINES, f"{path}:{fn.lineno} {fn.name}: {lines} lines"
        assert params <= MAX_PARAMS, f"{path}:{fn.lineno} {fn.name}: {params} parameters"


def test_protocol_modules_each_stay_small():
    for path in _modules("eigjax/protocol"):
        with open(path) as f:
            lines = len(f.readlines())
        assert lines < MAX_PROTOCOL_MODULE, f"{path}: {lines} lines"


def test_no_private_eigjax_name_is_used_outside_eigjax_and_no_test_code_in_benchmarks():
    for path in _modules("experiments", "benchmarks", "weights_convert", "scripts", "tests"):
        for module, name in _imports(path):
            if module.startswith("eigjax"):
                assert not (name or "").startswith("_"), f"{path}: {module}.{name}"
                assert not any(p.startswith("_") for p in module.split(".")), f"{path}: {module}"
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("protocol", "assess", "eig"):
                    pytest.fail(f"{path}:{node.lineno}: {base.id}.{node.attr}")
    for path in _modules("benchmarks"):
        assert not [m for m, _ in _imports(path) if m == "tests" or m.startswith("tests.")], path


def test_models_do_not_import_the_data_layer():
    for path in _modules("eigjax/models"):
        assert not [m for m, _ in _imports(path) if m.startswith("eigjax.data")], path


APPS = ("study", "web", "finetune")


def test_the_three_apps_import_the_shell_and_the_library_never_each_other():
    """`experiments/{study,web,finetune}/` each import `experiments` (the shell) and
    `eigjax`; the shell imports no app, and no app another."""
    for path in _modules("experiments"):
        parts = os.path.relpath(path, os.path.join(ROOT, "experiments")).split(os.sep)
        own = parts[0] if len(parts) > 1 else None
        for module, name in _imports(path):
            names = [*module.split("."), name or ""]
            if names[0] == "experiments" and names[1] in APPS:
                assert names[1] == own, f"{path}: imports {module}"
    assert {d for d in APPS if os.path.isdir(os.path.join(ROOT, "experiments", d))} == set(APPS)


def test_model_families_are_folders_found_through_the_registry():
    """A family is a folder of `eigjax/models/` declaring its `FAMILY`, registered once in
    `families.FAMILIES` (and its key map, where it has weights, in
    `weights_convert.CONVERTERS`). No module picks code by an encoder config's type or by
    comparing a family's or a pre/post-processing rule's name, and no table of model names
    stands outside the families' configs."""
    from eigjax.models.families import CONFIGS, FAMILIES
    from weights_convert import CONVERTERS

    models_dir = os.path.join(ROOT, "eigjax", "models")
    folders = {
        d
        for d in os.listdir(models_dir)
        if os.path.isfile(os.path.join(models_dir, d, "__init__.py"))
    }
    assert folders == set(FAMILIES)
    assert all(c.family == name for name, f in FAMILIES.items() for c in f.configs)
    assert {name for name, f in FAMILIES.items() if f.has_weights} == set(CONVERTERS)
    rules = ("family", "preprocess", "postprocess")
    for path in _modules("eigjax", "experiments", "weights_convert", "benchmarks"):
        for node in ast.walk(_tree(path)):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                assert not ast.unparse(node.args[1]).endswith("Config"), where
            if isinstance(node, ast.Compare) and any(
                isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
            ):  # A lookup in a registry (`in`) is how a rule is found.
                sides = [node.left, *node.comparators]
                assert not [s for s in sides if getattr(s, "attr", "") in rules], where
            if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                names = [
                    e.value for e in items if isinstance(e, ast.Constant) and e.value in CONFIGS
                ]
                assert len(names) < 3, f"{where}: a table of model names {names}"


def test_every_command_line_is_absl():
    """One CLI style for the apps, the converter, the benchmarks and the scripts."""
    for path in _modules("experiments", "weights_convert", "benchmarks", "scripts"):
        assert "argparse" not in [m for m, _ in _imports(path)], path


def test_a_policy_kind_is_read_only_from_its_kind():
    """What a policy is (a device loop, a candidate search, a host rule) is its entry's
    `kind`, stated there: no module compares a kind's name with another field."""
    kinds = {p.kind for p in POLICIES.values()}
    assert kinds == {"loop", "search", "host"}
    for path in _modules("eigjax", "experiments", "benchmarks"):
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Constant) and s.value in kinds for s in sides):
                names = [s.attr if isinstance(s, ast.Attribute) else "" for s in sides]
                assert "kind" in names or any(
                    isinstance(s, ast.Name) and s.id == "kind" for s in sides
                ), f"{path}:{node.lineno}: a policy kind compared with {ast.unparse(node)}"


def test_policy_names_are_spelled_only_in_the_registry():
    registry = os.path.join(ROOT, "eigjax", "protocol", "policies.py")
    # "eig" also names a setting (the estimator) and an API field: only the others are
    # unambiguous enough to check by their spelling.
    names = set(POLICIES) - {f.name for f in dataclasses.fields(Settings)}
    assert names >= {"oracle", "error_center", "random_error", "random"}
    for path in _modules("eigjax", "experiments"):
        if path == registry:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and node.value in names:
                pytest.fail(f"{path}:{node.lineno}: policy name {node.value!r}")
