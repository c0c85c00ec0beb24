#!/usr/bin/env bash
# The GPU/TPU measurements the README asks for, in one run (about 10 minutes on one GPU):
# where one Oracle step of sam_vit_b at 1024² spends its time, its speed under each
# precision with the chunk chosen from the device's memory, and the default study.
#
#   bash benchmarks/accelerator.sh        # on a machine whose JAX sees the accelerator
#
# Needs the test dependencies (.ci/run installs them) and a JAX build for the device
# (e.g. `pip install "jax[cuda12]"`). The PyTorch drivers stay on the CPU, so the
# torch ratios of benchmarks/oracle_step.py are left out here (--torch=false).
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import jax; print('devices:', jax.devices())"
python -m benchmarks.profile_oracle --cases=sam_vit_b:1024,litemedsam:512
python -m benchmarks.oracle_step --case=sam_vit_b:1024 --chunk=0 \
  --precisions=highest,default,bfloat16 --baseline='' --torch=false
time eigjax-study --workdir=workspace/accelerator_study
