"""Nothing silently wrong: runs keyed by their settings, records that survive damage and a
second writer, flags checked at start (the cases of the reliability issue, one test each)."""

import dataclasses
import glob
import json
import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from eigjax import protocol
from experiments import records, study, summarize
from experiments.config import StudyConfig
from tests.helpers import run_module

QUICK = StudyConfig(policies=("eig", "error_center"), steps=2, fig2_images=0, report=False)
QUICK = dataclasses.replace(QUICK, settings=(protocol.Settings(grid=4),))


def _pairs(root, names=("a", "b")):
    """A folder dataset of small real-looking pairs: ROOT/images/x.png, ROOT/masks/x.png."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(len(names))
    for i, name in enumerate(names):
        img = (rng.random((48, 64)) * 255).astype(np.uint8)
        m = np.zeros((48, 64), np.uint8)
        m[10 + i : 30, 15:40] = 255
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    return root


def _cfg(workdir, root, **changes):
    settings = changes.pop("settings", QUICK.settings)
    return dataclasses.replace(
        QUICK, dataset=f"folder:{root}", workdir=str(workdir), settings=settings, **changes
    )


def _lines(workdir):
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, "records", "*.jsonl"))):
        out += [json.loads(line) for line in open(path)]
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rel")
    root = _pairs(tmp / "data" / "pairs")
    workdir = tmp / "w"
    study.run_study(_cfg(workdir, root))
    return root, workdir


def test_other_settings_in_the_same_workdir_are_a_new_run_beside_the_old(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    before = _lines(workdir)
    other = (protocol.Settings(grid=6, eig="nmc", heads="all", nmc_outer=16, nmc_inner=4),)
    study.run_study(_cfg(workdir, root, settings=other, seed=5))
    after = _lines(workdir)
    assert after[: len(before)] == before and len(after) == 2 * len(before)
    assert len({r["run"] for r in after}) == 2 and len(os.listdir(workdir / "runs")) == 2
    study.run_study(_cfg(workdir, root, settings=other, seed=5))  # Same settings: nothing new.
    assert len(_lines(workdir)) == len(after)


def test_a_folder_with_the_same_base_name_is_another_dataset(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    twin = _pairs(tmp_path / "elsewhere" / "pairs", names=("a", "b"))  # Same ids, same name.
    study.run_study(_cfg(workdir, twin))
    runs = records.load_runs(str(workdir))
    assert len(runs) == 2
    assert {tuple(r["dataset"]["paths"]) for r in runs.values()} == {(str(root),), (str(twin),)}


def test_the_report_groups_runs_of_different_settings_and_says_which(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    study.run_study(_cfg(workdir, root, steps=3))
    out = summarize.write_report(str(workdir))
    summary = open(os.path.join(out, "summary.md")).read()
    assert "| litemedsam · steps=2 | folder:pairs | eig | 2 | 2 |" in summary
    assert "| litemedsam · steps=3 | folder:pairs | eig | 2 | 3 |" in summary
    assert "NoC@90 (≤ clicks)" in summary  # Two caps: the column header says so.
    per_step = open(os.path.join(out, "dice_per_step.md")).read().splitlines()
    two = next(line for line in per_step if "steps=2 | folder:pairs | eig" in line)
    assert two.rstrip(" |").endswith("–")  # No step-2 value borrowed from the 3-step run.


def test_a_malformed_line_is_skipped_with_its_place_and_loses_nothing(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    path = workdir / "records" / "process_000.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(1, '{"run": "x", "policy": ')  # Damaged in the middle, newline intact.
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"process_000.jsonl:2: malformed record skipped"):
        recs = records.load_records(str(workdir))
    assert len(recs) == len(lines) - 1
    with pytest.warns(UserWarning, match=r"process_000.jsonl:2"):
        summarize.write_report(str(workdir))
        study.run_study(_cfg(workdir, root))  # Resume: everything is already there.
    assert len(path.read_text().splitlines()) == len(lines)  # Nothing rewritten or doubled.


def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    holder = records.RecordStore(str(workdir), 0)
    try:
        with pytest.raises(records.WorkdirBusy, match=f'"pid": {os.getpid()}'):
            study.run_study(_cfg(workdir, root))
    finally:
        holder.close()
    # A lock file left by a process that died: its flock went with it.
    (workdir / "records" / "process_000.lock").write_text('{"pid": 999999, "host": "gone"}')
    study.run_study(_cfg(workdir, root))
    lock = json.loads((workdir / "records" / "process_000.lock").read_text())
    assert lock["pid"] == os.getpid()


@pytest.mark.parametrize(
    "flag,message",
    [
        ("--grid=0", "--grid must be at least 1"),
        ("--grid=-3", "--grid must be at least 1"),
        ("--steps=-1", "--steps must be at least 1"),
        ("--steps=0", "--steps must be at least 1"),
        ("--start=middle", "--start: 'middle' is not one of"),
        ("--policies=best", "--policies: unknown ['best']"),
    ],
)
def test_bad_flags_fail_at_start_in_one_line(tmp_path, flag, message):
    clock = time.perf_counter()
    proc = run_module("experiments.eig_vs_oracle", f"--workdir={tmp_path / 'w'}", flag)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and time.perf_counter() - clock < 30
    assert not (tmp_path / "w" / "records").exists()


def test_report_of_a_mistyped_workdir_creates_nothing(tmp_path):
    proc = run_module("experiments.report", f"--workdir={tmp_path / 'typo'}")
    assert proc.returncode != 0 and "no records/ here" in proc.stderr
    assert not (tmp_path / "typo").exists()


def test_predict_reads_images_by_the_datasets_rule(tmp_path):
    """A 16-bit PNG: PIL's own RGB conversion clips it to white; the rule min-max scales."""
    image = np.zeros((40, 50), np.uint16)
    image[10:30, 10:40] = 3000
    Image.fromarray(image).save(tmp_path / "ct16.png")
    proc = run_module(
        "experiments.predict",
        f"--image={tmp_path / 'ct16.png'}",
        "--box=10,10,39,29",
        f"--output={tmp_path / 'out'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    overlay = np.asarray(Image.open(tmp_path / "out" / "overlay.png"))
    assert overlay[0, 0].tolist() == [0, 0, 0]  # Background stays black, not clipped white.
