"""Prepared tfds datasets (`experiments.prepare`, `tfds:NAME[:SPLIT]`): built and read
without TensorFlow, sample for sample the direct reader's, resumable, bad input one line."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from eigjax.data import DataError, spec
from references import DEMO_DIR
from tests.helpers import run_module

DEMO = os.path.join(DEMO_DIR, "data_demo")

# Prepares, reads every sample back and compares it with the direct reader's, in a fresh
# interpreter: TensorFlow must be absent from sys.modules after all of it.
ROUND_TRIP = """
import sys
import numpy as np
from eigjax.data import spec, tfds_prepare
direct, data_dir = sys.argv[1], sys.argv[2]
refs = spec.index(spec.parse(direct))
out = tfds_prepare.prepare(refs, data_dir, "round_trip", {"dataset": direct}, shard_size=7)
prepared = spec.index(spec.parse("tfds:" + out))
assert len(prepared) == len(refs), (len(prepared), len(refs))
for a, b in zip(refs, prepared):
    sa, sb = a.read(), b.read()
    assert (sa.id, sa.meta, a.size()) == (sb.id, sb.meta, b.size()), (sa.id, sb.id)
    assert sa.image.dtype == sb.image.dtype and np.array_equal(sa.image, sb.image), sa.id
    assert np.array_equal(sa.mask, sb.mask), sa.id
print(len(refs), "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("direct", ["bundled", f"sa_med2d:{DEMO}"])
def test_prepared_samples_equal_the_direct_readers_without_tensorflow(direct, tmp_path):
    if not os.path.isdir(DEMO):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    proc = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, direct, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    count, tensorflow = proc.stdout.split()
    assert int(count) == {"bundled": 10}.get(direct, 19) and tensorflow == "False"


def _prepare(data_dir, *args, source=DEMO):
    return run_module(
        "experiments.prepare", f"--dataset=sa_med2d:{source}", f"--data_dir={data_dir}", *args
    )


def _shards(directory):
    return sorted(f for f in os.listdir(directory) if ".array_record-" in f)


@pytest.mark.slow
def test_a_stopped_preparation_resumes_at_its_first_missing_shard(tmp_path):
    if not os.path.isdir(DEMO):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    shutil.copytree(DEMO_DIR, tmp_path / "demo")
    source = tmp_path / "demo" / "data_demo"  # Its index's paths start at data_demo/.
    last = spec.index(spec.parse(f"sa_med2d:{source}"))[-1].meta["mask"]
    original = open(last, "rb").read()
    with open(last, "wb") as f:
        f.write(b"not a png")  # In the last shard.
    proc = _prepare(tmp_path / "tfds", "--shard_size=5", "--name=demo", source=source)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {last}: unreadable mask")
    directory = tmp_path / "tfds" / "demo" / "1.0.0"
    kept = _shards(directory)
    assert len(kept) == 3 and not os.path.exists(directory / "dataset_info.json")
    mtimes = {f: os.stat(directory / f).st_mtime_ns for f in kept}
    with open(last, "wb") as f:
        f.write(original)
    proc = _prepare(tmp_path / "tfds", "--shard_size=5", "--name=demo", source=source)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {f: os.stat(directory / f).st_mtime_ns for f in kept} == mtimes
    with open(directory / "eigjax_prepare.json") as f:
        manifest = json.load(f)
    assert sorted(manifest["sha256"]) == _shards(directory) and len(_shards(directory)) == 4
    refs = spec.index(spec.parse(f"tfds:{tmp_path / 'tfds' / 'demo'}"))
    direct = spec.index(spec.parse(f"sa_med2d:{source}"))
    assert [r.id for r in refs] == [r.id for r in direct]
    last = refs[len(refs) - 1].read()
    assert np.array_equal(last.mask, direct[-1].read().mask)
    # Another source into the same dataset is refused, naming the manifest.
    proc = _prepare(tmp_path / "tfds", "--shard_size=5", "--name=demo", "--num_images=3")
    assert proc.returncode == 1
    assert f"{directory / 'eigjax_prepare.json'}: this dataset was prepared from" in proc.stderr


def test_bad_specs_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such folder, and no prepared dataset"):
        spec.parse(f"tfds:{tmp_path / 'nothing'}x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no dataset_info.json"):
        spec.parse(f"tfds:{tmp_path / 'empty'}")
    proc = run_module("experiments.prepare", "--dataset=bundled", f"--data_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with pytest.raises(DataError, match="no split 'test'; it has \\['train'\\]"):
        spec.index(spec.parse(f"tfds:{tmp_path / 'eigjax_samples'}:test"))
    with pytest.raises(DataError, match="prepare it with --sub_datasets/--labels"):
        spec.index(spec.parse(f"tfds:{tmp_path / 'eigjax_samples'}"), labels=["liver"])
