"""The manual is the reference: every HTTP route, model name, `--dataset` scheme and
command flag is in it, README stays the front door, and README's library example runs."""

import glob
import os
import re
import subprocess
import sys

import pytest

from eigjax.data import spec
from eigjax.models import CONFIGS
from experiments.web.server import ROUTES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ("study", "web", "predict", "finetune", "prepare", "convert")


def _read(*parts: str) -> str:
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def _manual() -> str:
    return "\n".join(_read(p) for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))))


def test_every_route_is_in_the_manuals_page_of_the_api():
    page = _read("docs", "web.md")
    missing = [
        f"{method} {path}"
        for method, path in ROUTES
        if not re.search(re.escape(f"{method} {path}") + r"(?![\w/])", page)
    ]
    assert not missing, f"routes missing from docs/web.md: {missing}"


def test_every_model_and_dataset_scheme_is_in_the_manual():
    models, datasets = _read("docs", "models.md"), _read("docs", "datasets.md")
    assert not [n for n in CONFIGS if f"`{n}`" not in models], "models missing from models.md"
    kinds = [k for k in spec.KINDS if k != "bundled"]
    assert not [k for k in kinds if f"{k}:" not in datasets], "schemes missing from datasets.md"


def _help(command: str) -> str:
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), f"eigjax-{command}"), "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_a_command_lists_is_in_the_manual(command):
    """`eigjax-<command> --help` lists the command's own flags (not only "Try
    --helpfull"), each with its help, and the manual names each of them."""
    text = _help(command)
    listed = set(re.findall(r"^\s+--(?:\[no\])?(\w+)", text, flags=re.M))
    assert len(listed) >= 3, text
    manual = _manual()
    missing = sorted(f for f in listed if not re.search(rf"--{f}\b", manual))
    assert not missing, f"eigjax-{command}: flags missing from docs/: {missing}"


def test_readme_is_the_front_door():
    readme = _read("README.md")
    assert len(readme.splitlines()) <= 200 and len(readme.encode()) <= 12 * 1024


@pytest.mark.slow
def test_readmes_library_example_runs():
    """README's Python block, as written, on a bundled sample."""
    block = re.search(r"```python\n(.*?)```", _read("README.md"), flags=re.S)[1]
    from eigjax.data import spec as specs

    sample = specs.index(specs.parse("bundled"), 1, 0, (), ("brain",), ())[0].read()
    scope = {"image": sample.image, "mask": sample.mask}
    exec(block, scope)
    assert scope["eig_map"].shape == sample.mask.shape
