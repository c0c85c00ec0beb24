"""What the study's tests share: the quick settings, a study run as a user runs it, and the
xdist group of the modules that read the shared run (`conftest.bundled_run`)."""

import os
import subprocess
import sys

import pytest

QUICK = [
    "--models=litemedsam",  # The demo's default runs the calibrated control beside it.
    "--grid=4",
    "--steps=3",
    "--start=center",
    "--policies=eig,oracle,error_center",
    "--oracle_images=0",
    "--nmc_check=false",
    "--oracle_chunk=4",
]
GROUP = pytest.mark.xdist_group("bundled_study")


def run_study(workdir, *args, env=None, check=True) -> subprocess.CompletedProcess:
    """`python -m experiments.study --workdir=WORKDIR` with `QUICK` and `args`, as a user
    runs it."""
    cmd = [sys.executable, "-m", "experiments.study", f"--workdir={workdir}", *QUICK, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
