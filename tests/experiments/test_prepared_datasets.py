"""The apps on a prepared dataset (`--dataset=tfds:...`, from the SA-Med2D demo): the
study's records, the fine-tune's examples and the page's images are the direct reader's."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from eigjax import models
from experiments.finetune import training_data
from experiments.finetune.config import FinetuneConfig
from experiments.web.catalog import Catalog
from references import DEMO_DIR
from tests.helpers import run_module

DEMO = os.path.join(DEMO_DIR, "data_demo")
STUDY = ["--models=litemedsam", "--grid=4", "--steps=2", "--start=center", "--policies=eig",
         "--nmc_check=false", "--num_images=1", "--fig2_images=0", "--report=false"]  # fmt: skip


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    if not os.path.isdir(DEMO):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    data_dir = tmp_path_factory.mktemp("tfds")
    proc = run_module("experiments.prepare", f"--dataset=sa_med2d:{DEMO}", f"--data_dir={data_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return f"tfds:{data_dir / 'sa_med2d_data_demo'}:train"


def _records(workdir):
    """Each record without its run (a hash of settings that name the dataset) and timings."""
    lines = []
    for name in glob.glob(os.path.join(workdir, "records", "*.jsonl")):
        with open(name) as f:
            lines += [json.loads(line) for line in f]
    drop = lambda k: k == "run" or k.startswith("seconds_per_")  # noqa: E731
    return sorted(json.dumps({k: v for k, v in r.items() if not drop(k)}) for r in lines)


@pytest.mark.slow
def test_the_study_writes_the_direct_readers_records(prepared, tmp_path):
    for name, dataset in (("direct", f"sa_med2d:{DEMO}"), ("prepared", prepared)):
        cmd = ["-m", "experiments.study", f"--workdir={tmp_path / name}", *STUDY]
        proc = subprocess.run(
            [sys.executable, *cmd, f"--dataset={dataset}"], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    direct, tfds = _records(tmp_path / "direct"), _records(tmp_path / "prepared")
    assert len(direct) == 1 and tfds == direct


@pytest.mark.slow
def test_the_fine_tune_trains_on_the_direct_readers_examples(prepared, tmp_path):
    model = models.load("litemedsam")
    arrays = {}
    for dataset in (f"sa_med2d:{DEMO}", prepared):
        cfg = FinetuneConfig(dataset=dataset, num_images=4, cache_dir=str(tmp_path))
        arrays[dataset] = training_data.load_examples(cfg, model, "bundled")
    (a, ids_a), (b, ids_b) = arrays.values()
    assert ids_a == ids_b and len(ids_a) == 4 and a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_the_page_serves_the_direct_readers_images(prepared):
    direct, tfds = Catalog.from_dataset(f"sa_med2d:{DEMO}"), Catalog.from_dataset(prepared)
    assert [e.describe() for e in tfds.entries.values()] == [
        e.describe() for e in direct.entries.values()
    ]
    for name, entry in tfds.entries.items():
        (image, mask), (image_d, mask_d) = entry.load(), direct.entries[name].load()
        assert np.array_equal(image, image_d) and np.array_equal(mask, mask_d), name
