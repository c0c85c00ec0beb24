"""`python -m experiments.finetune` end to end: a killed run resumes to the same params,
a finished run is kept, the offline set holds the bundled slices out, bad input is one line."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from eigjax import models
from eigjax.models import families
from experiments.finetune import training
from experiments.finetune.config import FinetuneConfig
from tests.helpers import run_module

# A small run on the bundled nuclei: one compile (clicks only), 1 correction click, no
# refinement rounds (they double a sequence's steps here; `test_interactive.py` has them).
SMALL = [
    "--dataset=bundled",
    "--labels=nucleus_0,nucleus_1,nucleus_2",
    "--steps=20",
    "--batch_size=1",
    "--correction_clicks=1",
    "--refinement_rounds=0",
    "--p_box=0",
    "--checkpoint_every=5",
    "--snapshot_steps=10,20",
]


def _finetune(workdir, cache, *extra):
    return [sys.executable, "-m", "experiments.finetune", f"--workdir={workdir}",
            f"--cache_dir={cache}", *SMALL, *extra]  # fmt: skip


def _checksums(workdir, params="params"):
    with open(os.path.join(workdir, params, "model.json")) as f:
        return json.load(f)["sha256"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    proc = subprocess.run(_finetune(tmp / "a", tmp / "cache"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


@pytest.mark.slow
def test_the_run_writes_loadable_params_and_its_log(uninterrupted):
    workdir = uninterrupted / "a"
    model = models.load("litemedsam", str(workdir / "params"))
    base = models.load("litemedsam")
    # Evaluated as trained: the params name their loop, and loading them makes it the
    # model's own (the study's mask_rule and mask_feedback "model").
    assert (model.config.mask_rule, model.config.mask_feedback) == ("best_iou_first", "logits")
    assert (base.config.mask_rule, base.config.mask_feedback) == ("token0", "none")
    assert not np.array_equal(
        model.params["mask_decoder"]["iou_prediction_head"]["layers_0"]["kernel"],
        base.params["mask_decoder"]["iou_prediction_head"]["layers_0"]["kernel"],
    )
    for part in ("image_encoder", "prompt_encoder"):  # Frozen with --train=decoder.
        jax.tree_util.tree_map(np.testing.assert_array_equal, model.params[part], base.params[part])
    lines = (workdir / "log.csv").read_text().splitlines()
    assert lines[0].split(",") == list(training.LOG_FIELDS)
    assert [int(r.split(",")[0]) for r in lines[1:]] == list(range(20))
    assert len(os.listdir(uninterrupted / "cache" / "embeddings")) == 1


@pytest.mark.slow
def test_snapshots_are_the_model_at_their_step(uninterrupted):
    workdir = uninterrupted / "a"
    assert sorted(os.listdir(workdir / "params_at")) == ["10", "20"]
    assert _checksums(workdir, "params_at/20") == _checksums(workdir)
    assert _checksums(workdir, "params_at/10") != _checksums(workdir)
    loaded = models.load("litemedsam", str(workdir / "params_at" / "10"))
    assert loaded.config.mask_rule == "best_iou_first"


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_params_bit_for_bit(uninterrupted):
    workdir, cache = uninterrupted / "b", uninterrupted / "cache"
    proc = subprocess.Popen(
        _finetune(workdir, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    first = workdir / "checkpoints" / "5"
    deadline = time.time() + 600
    while time.time() < deadline and not first.exists() and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (workdir / "params").exists(), "the run finished before it was killed"
    done = run_module("experiments.finetune", *_finetune(workdir, cache)[3:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert _checksums(workdir) == _checksums(uninterrupted / "a")
    rows = [int(r.split(",")[0]) for r in (workdir / "log.csv").read_text().splitlines()[1:]]
    assert rows == list(range(20))  # Each step once, whatever the kill cut.


@pytest.mark.slow
def test_a_finished_run_is_not_overwritten(uninterrupted):
    proc = run_module(
        "experiments.finetune", *_finetune(uninterrupted / "a", uninterrupted / "cache")[3:]
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith("holds a finished run (params/); pass --overwrite to replace it or "
                         "choose another --workdir")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag, message",
    [
        ("--steps=0", "--steps must be 1 or more, got 0"),
        ("--p_box=1.5", "--p_box must be in [0, 1], got 1.5"),
        ("--train=encoder", "--train: 'encoder' is not one of ['decoder', 'decoder+prompt']"),
        ("--model=nope", "--model: unknown 'nope'"),
        ("--snapshot_steps=301", "--snapshot_steps: [301] outside 1..--steps=300"),
        ("--snapshot_steps=x", "--snapshot_steps: 'x' is not an integer"),
        ("--learning_rate=inf", "--learning_rate: inf is not a finite number"),
        ("--p_click_from_gt=nan", "--p_click_from_gt: nan is not a finite number"),
    ],
)
def test_a_bad_flag_is_one_line(tmp_path, flag, message):
    proc = run_module("experiments.finetune", f"--workdir={tmp_path}/w", flag)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr, proc.stderr


def test_a_model_without_multimask_heads_is_refused(monkeypatch):
    base = families.get_config("litemedsam")
    decoder = dataclasses.replace(base.mask_decoder, num_multimask_outputs=1)
    single = dataclasses.replace(base, name="single_mask", mask_decoder=decoder)
    monkeypatch.setitem(families.CONFIGS, "single_mask", single)
    with pytest.raises(ValueError, match="--model=single_mask: has no multimask heads"):
        FinetuneConfig(model="single_mask").check()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["no masks", "empty masks"])
def test_a_dataset_with_nothing_to_learn_is_one_line(tmp_path, kind):
    root = tmp_path / "pairs"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    if kind == "empty masks":
        Image.fromarray(np.full((32, 32), 90, np.uint8)).save(root / "images" / "a.png")
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / "masks" / "a.png")
    proc = run_module(
        "experiments.finetune", f"--workdir={tmp_path}/w", f"--cache_dir={tmp_path}/c",
        f"--dataset=folder:{root}",
    )  # fmt: skip
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(root) in last, last


def _resumable_copy(uninterrupted, tmp_path):
    """A copy of the finished run with its params removed: rerunning resumes it."""
    copy = tmp_path / "copy"
    shutil.copytree(uninterrupted / "a", copy)
    shutil.rmtree(copy / "params")
    return copy


@pytest.mark.slow
def test_a_run_cannot_adopt_another_runs_checkpoint_without_its_run_json(uninterrupted, tmp_path):
    copy = _resumable_copy(uninterrupted, tmp_path)
    os.remove(copy / "run.json")
    proc = run_module(
        "experiments.finetune",
        *_finetune(copy, uninterrupted / "cache", "--learning_rate=2e-3")[3:],
    )
    assert proc.returncode != 0, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "the checkpoint of a run with other settings (learning_rate differ)" in last
    assert "Traceback" not in proc.stderr and not (copy / "params").exists()


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_line_naming_it(uninterrupted, tmp_path):
    copy = _resumable_copy(uninterrupted, tmp_path)
    latest = max(int(d) for d in os.listdir(copy / "checkpoints") if d.isdigit())
    found = [
        os.path.join(root, name)
        for root, _, names in os.walk(copy / "checkpoints" / str(latest))
        for name in names
    ]
    biggest = max(found, key=os.path.getsize)
    with open(biggest, "r+b") as f:
        f.truncate(os.path.getsize(biggest) // 2)
    proc = run_module("experiments.finetune", *_finetune(copy, uninterrupted / "cache")[3:])
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and f"checkpoints/{latest}: a damaged checkpoint" in last, last
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_batch_larger_than_the_data_is_refused_at_once(uninterrupted, tmp_path):
    flags = _finetune(tmp_path / "w", uninterrupted / "cache", "--batch_size=1000000000")[3:]
    proc = run_module("experiments.finetune", *flags)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and "--batch_size=1000000000: more than the 3 masks" in last, last


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_checkpoint(uninterrupted, tmp_path):
    """Files may grow to 1 MiB (RLIMIT_FSIZE, as a disk that fills): the embedding cache
    works without writing, with a warning, and the first checkpoint's write ends the run in
    one line, without orbax's threads' tracebacks."""
    import resource

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # A write past the limit fails (EFBIG).
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    flags = _finetune(tmp_path / "w", tmp_path / "cache", "--steps=6", "--snapshot_steps=")
    proc = subprocess.run(flags, capture_output=True, text=True, preexec_fn=small_files)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "checkpoints: checkpoint 5 could not be written" in last, last
    assert "Traceback" not in proc.stderr and "the embedding cache cannot be written" in proc.stderr
