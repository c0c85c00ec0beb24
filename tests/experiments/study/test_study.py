"""The experiment script end to end: records, resume after a kill, devices, bad input, report."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.experiments.study.helpers import GROUP, QUICK, run_study

pytestmark = GROUP


def _records(workdir):
    lines = []
    for name in sorted(glob.glob("*.jsonl", root_dir=os.path.join(workdir, "records"))):
        with open(os.path.join(workdir, "records", name)) as f:
            lines += [json.loads(line) for line in f]
    return lines


def _keys(records):
    return [(r["run"], r["policy"], r["image_id"]) for r in records]


def _numbers(records):
    """The records without their timings, comparable across runs."""
    return sorted(
        json.dumps({k: v for k, v in r.items() if not k.startswith("seconds_per_")}, sort_keys=True)
        for r in records
    )


@pytest.mark.slow
def test_records_tables_and_figures(bundled_run):
    records = _records(bundled_run)
    assert len(records) == 9 and len(set(_keys(records))) == 9  # 3 images x 3 policies
    for r in records:
        assert len(r["clicks"]) == 3 and len(r["dice"]) == 3 and r["max_eig"][0] is None
        assert {"noc85", "noc90", "noc95", "fail90", "iou", "dice_auc", "dice_token0"} <= set(r)
    report = os.path.join(bundled_run, "report")
    for name in (
        "summary.md",
        "summary.csv",
        "dice_per_step.csv",
        "max_eig_per_step.md",
        "fig1.png",
    ):
        assert os.path.getsize(os.path.join(report, name)) > 100, name
    fig2 = [f for f in os.listdir(report) if f.startswith("fig2")]
    assert fig2 == ["fig2.png"] and Image.open(os.path.join(report, "fig2.png")).size[0] > 300
    assert os.path.getsize(os.path.join(report, "eig_vs_gain.png")) > 1000  # Oracle step 1.
    for name in ("eig_ranking.md", "plausibility.md", "paired.md", "head_probs.png"):
        assert os.path.getsize(os.path.join(report, name)) > 100, name
    summary = open(os.path.join(report, "summary.md")).read()
    assert "NoC@90, ≤ 3 clicks" in summary
    counts: dict = {}
    for r in records:
        counts[(r["group"], r["policy"])] = counts.get((r["group"], r["policy"]), 0) + 1
    for (group, policy), n in counts.items():
        assert f"| litemedsam | {group} | {policy} | {n} | 3 | 3 |" in summary  # Prompts, clicks.


@pytest.mark.slow
def test_rerun_adds_only_what_is_missing(bundled_run, tmp_path):
    workdir = tmp_path / "w"
    shutil.copytree(bundled_run, workdir)
    before = _records(workdir)
    run_study(workdir, "--num_images=4")
    after = _records(workdir)
    assert after[: len(before)] == before and len(after) == 12
    assert len(set(_keys(after))) == 12


@pytest.mark.slow
def test_killed_run_resumes_with_every_record_once(tmp_path):
    workdir = tmp_path / "k"
    cmd = [
        sys.executable,
        "-m",
        "experiments.study",
        f"--workdir={workdir}",
        *QUICK,
        "--num_images=4",
        "--policies=eig,error_center",
        "--fig2_images=0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = workdir / "records" / "process_000.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (path.exists() and path.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = path.read_text().count("\n")
    assert 2 <= written < 8
    with open(path, "a") as f:  # A line cut mid-write, as a kill during write leaves it.
        f.write('{"model": "litemedsam", "dataset": "bund')
    run_study(workdir, *cmd[-3:], "--report=false")
    records = _records(workdir)
    assert len(records) == 8 and len(set(_keys(records))) == 8


@pytest.mark.slow
def test_two_devices_give_the_records_of_one(bundled_run, tmp_path):
    """3 images on 2 devices: a lockstep batch sharded over both, then one padded."""
    workdir = tmp_path / "d2"
    run_study(
        workdir,
        "--num_images=3",
        "--policies=eig,error_center",  # A device loop and a host rule; the Oracle alike.
        "--report=false",
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    one = [r for r in _records(bundled_run) if r["policy"] in ("eig", "error_center")]
    assert _numbers(_records(workdir)) == _numbers(one)


def _folder(root):
    """ROOT/images, ROOT/masks: one noise image of 64x80 under an object, an empty mask and a
    one-pixel mask."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    img = (rng.random((64, 80)) * 255).astype(np.uint8)
    masks = {"a_full": (slice(10, 40), slice(20, 60)), "b_empty": None, "c_pixel": (30, 30)}
    for name, where in masks.items():
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        m = np.zeros((64, 80), np.uint8)
        if where is not None:
            m[where] = 255
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    return root


@pytest.fixture
def folder_dataset(tmp_path):
    return _folder(tmp_path / "pairs")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A study on a folder of an object, an empty mask, a one-pixel mask and, last, a file
    that is not an image: (the finished process, its workdir)."""
    root = _folder(tmp_path_factory.mktemp("data") / "pairs")
    (root / "images" / "z_bad.png").write_bytes(b"not an image")
    shutil.copy(root / "masks" / "a_full.png", root / "masks" / "z_bad.png")
    workdir = tmp_path_factory.mktemp("bad")
    proc = run_study(workdir, f"--dataset=folder:{root}", "--fig2_images=0", check=False)
    return proc, workdir


@pytest.mark.slow
def test_empty_mask_is_skipped_and_one_pixel_mask_runs(folder_run):
    proc, workdir = folder_run
    assert "b_empty: empty mask, skipped" in proc.stderr
    records = {(r["image_id"], r["policy"]): r for r in _records(workdir)}
    assert records[("b_empty", "eig")]["skipped"] == "empty mask"
    assert records[("c_pixel", "oracle")]["clicks"][0][:2] == [30, 30]
    assert "skipped" not in records[("a_full", "eig")]


@pytest.mark.slow
def test_bad_file_stops_with_its_name_and_keeps_records(folder_run):
    proc, workdir = folder_run
    assert proc.returncode != 0 and "z_bad.png: unreadable image" in proc.stderr
    assert {r["image_id"] for r in _records(workdir)} == {"a_full", "b_empty", "c_pixel"}


@pytest.mark.slow
def test_unknown_sub_dataset_lists_valid_ones(tmp_path):
    proc = run_study(
        tmp_path / "u",
        "--dataset=sa_med2d:"
        + os.path.join(os.path.dirname(__file__), "..", "..", "..", "eigjax", "samples"),
        "--sub_datasets=FLARE",
        check=False,
    )
    assert proc.returncode != 0
    assert "unknown sub-dataset ['FLARE']; valid: ['dsb2018', 'mni152', 'quokka']" in proc.stderr


@pytest.mark.slow
def test_the_oracle_on_fewer_masks_and_the_estimate_beside_the_time(folder_dataset, tmp_path):
    workdir = tmp_path / "o"
    proc = run_study(
        workdir,
        f"--dataset=folder:{folder_dataset}",
        "--policies=eig,oracle",
        "--oracle_images=1",
        "--fig2_images=0",
        "--report=false",
    )
    done = {(r["policy"], r["image_id"]) for r in _records(workdir) if "skipped" not in r}
    assert done == {("eig", "a_full"), ("eig", "c_pixel"), ("oracle", "a_full")}
    assert "(the Oracle on 1)" in proc.stdout
    assert re.search(r"estimated \d+\.\d min, took \d+\.\d min", proc.stdout)
    assert "/3 [" in proc.stderr  # The progress bar knows its total.
