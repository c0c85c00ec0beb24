"""The study as two processes under jax.distributed (CPU, coordinator on 127.0.0.1): the
merged records equal a one-process run's, each record once."""

import glob
import json
import os
import socket
import subprocess
import sys

from tests.helpers import run_module

QUICK = [
    "--models=litemedsam",  # The demo's default runs the calibrated control beside it.
    "--num_images=4",
    "--grid=4",
    "--steps=3",
    "--start=center",
    "--policies=eig,oracle,error_center",
    "--oracle_images=0",
    "--nmc_check=false",
    "--fig2_images=0",
    "--report=false",
]


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


def test_two_processes_write_the_records_of_one(tmp_path):
    port = _free_port()
    cmd = [sys.executable, "-m", "experiments.study", f"--workdir={tmp_path / 'two'}"]
    cmd += QUICK + ["--distributed", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
    procs = [
        subprocess.Popen(
            cmd + [f"--process_id={i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
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
    assert len(keys) == len(set(keys)) == 12  # 4 images x 3 policies, each once.
    per_process = [
        len(open(tmp_path / "two" / "records" / f).readlines())
        for f in files
        if f.endswith(".jsonl")
    ]
    assert per_process == [6, 6]  # Every other image.
    proc = run_module("experiments.study", f"--workdir={tmp_path / 'one'}", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _numbers(two) == _numbers(_lines(tmp_path / "one"))
