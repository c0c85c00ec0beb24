"""The study as two processes under jax.distributed (CPU, coordinator on 127.0.0.1): the
merged records equal a one-process run's (the shared `bundled_run`), each record once."""

import glob
import json
import os
import socket
import subprocess
import sys

import pytest

from tests.experiments.study.helpers import GROUP, QUICK

pytestmark = GROUP
# The shared run's first 3 images under a device-loop policy and a host one (the Oracle's
# search is sharded as they are; the shared run has it); its Fig. 2 image kept alike.
POLICIES = ("eig", "error_center")
SUBSET = ["--num_images=3", f"--policies={','.join(POLICIES)}", "--report=false"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(workdir):
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, "records", "*.jsonl"))):
        out += [json.loads(line) for line in open(path)]
    return out


def _numbers(lines):
    return sorted(
        json.dumps({k: v for k, v in r.items() if not k.startswith("seconds_per_")}, sort_keys=True)
        for r in lines
    )


@pytest.mark.slow
def test_two_processes_write_the_records_of_one(bundled_run, tmp_path):
    port = _free_port()
    cmd = [sys.executable, "-m", "experiments.study", f"--workdir={tmp_path / 'two'}"]
    cmd += [*QUICK, *SUBSET, "--distributed", f"--coordinator_address=127.0.0.1:{port}"]
    procs = [
        subprocess.Popen(
            [*cmd, "--num_processes=2", f"--process_id={i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()[-3000:]
    files = sorted(os.listdir(tmp_path / "two" / "records"))
    assert [f for f in files if f.endswith(".jsonl")] == ["process_000.jsonl", "process_001.jsonl"]
    two = _lines(tmp_path / "two")
    keys = [(r["run"], r["policy"], r["image_id"]) for r in two]
    assert len(keys) == len(set(keys)) == 6  # 3 images x 2 policies, each once.
    per_process = [
        len(open(tmp_path / "two" / "records" / f).readlines())
        for f in files
        if f.endswith(".jsonl")
    ]
    assert per_process == [4, 2]  # Images 0 and 2, then image 1.
    one = [r for r in _lines(bundled_run) if r["policy"] in POLICIES]
    assert _numbers(two) == _numbers(one)
