"""Where one Oracle step spends its time, by stage, from a `jax.profiler` trace.

  python -m benchmarks.profile_oracle                       # LiteMedSAM 256², 512²; sam_vit_b 1024²
  python -m benchmarks.profile_oracle --cases=litemedsam:512

One Oracle step is what the protocol runs at step 1 (a centre click placed): the Oracle's
900 candidates (`protocol.search_batch`, 2 click slots) and the assessment of the chosen
click (`protocol.advance_batch`: decode, post-processing, Dice, the EIG map). Each runs
once to compile, then once under `jax.profiler.trace`; every XLA op of the trace is
attributed to a stage by the `jax.named_scope` / Flax module path in its HLO metadata:

  two-way transformer   mask_decoder/transformer
  upscaling             mask_decoder/upscaling (the two transposed convs, LayerNorm, GELUs)
  hypernetwork product  mask_decoder/hypernetwork (the token MLPs, the mask product)
  post-processing       postprocess (low-res logits to the original size)
  Dice, EIG             dice, eig
  prompt encoder, IoU head, other (loop control, copies, selection)

Host transfers are timed apart: copying the step's outputs back (`jax.device_get`).
LiteMedSAM uses its real weights on a real CT slice; sam_vit_b seeded random weights.
"""

import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import cases
from eigjax import protocol
from eigjax.models import Model, families
from eigjax.models.network import abstract_params

STAGES = (
    ("two-way transformer", "mask_decoder/transformer"),
    ("upscaling", "upscaling"),
    ("hypernetwork product", "hypernetwork"),
    ("IoU head", "iou_prediction_head"),
    ("post-processing", "postprocess"),
    ("Dice", "dice"),
    ("EIG", "eig"),
    ("prompt encoder", "prompt_encoder"),
)


def case_inputs(model_name: str, size: int):
    """(model, gt bool [S, S], embedding features [h, w, C]): LiteMedSAM's real weights on
    the real CT case, or seeded random weights and features on the synthetic one."""
    if model_name == "litemedsam":
        from eigjax import models

        model = models.load("litemedsam")
        image, gt = cases.ct_case(size)
        return model, gt, model.embed(image).features
    config = families.get_config(model_name)
    leaves, tree = jax.tree_util.tree_flatten(abstract_params(config))
    keys = jax.random.split(jax.random.key(0), len(leaves))
    params = jax.tree_util.tree_unflatten(
        tree,
        [0.05 * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)],
    )
    features = jax.random.normal(jax.random.key(1), (config.embedding_size,) * 2 + (256,))
    return Model(config, params), cases.ellipse(size), features


def step_functions(model, gt, features, settings):
    """The Oracle's search and the assessment after it, as the protocol's runner calls them
    at step 1: {name: (jitted function, arguments, static arguments)}."""
    problems, start = cases.oracle_inputs(model, gt, features, settings)
    progress = protocol.COMPILED(protocol.begin_batch, problems, start, settings=settings)
    step, oracle_args, settings = cases.oracle_step(problems, progress.state, 1, settings)
    chosen = step(*oracle_args).click
    advance_args = (problems, progress, jnp.asarray(1), chosen)
    return {
        "oracle": (
            protocol.search_batch,
            oracle_args,
            {"choose": protocol.oracle_click, "capacity": 2, "settings": settings},
        ),
        "assess": (protocol.advance_batch, advance_args, {"settings": settings}),
    }


def _hlo_metadata(fn, args, kw) -> dict[str, str]:
    """{HLO instruction name: op_name} of the compiled function."""
    text = fn.lower(*args, **kw).compile().as_text()
    pattern = r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{op_name="([^"]*)"'
    return {m.group(1): m.group(2) for m in re.finditer(pattern, text, re.M)}


def _stage(op_name: str) -> str:
    for stage, key in STAGES:
        if key in op_name:
            return stage
    return "other (loop, copies, selection)"


def profile(functions, top: int = 0) -> tuple[dict[str, float], float, float]:
    """({stage: seconds}, wall seconds, host-transfer seconds) of one call of each function;
    prints the `top` most expensive ops with their op_name."""
    per_stage: dict[str, float] = collections.defaultdict(float)
    wall = transfers = 0.0
    for fn, args, kw in functions.values():
        compiled = protocol.COMPILED.get(fn, *args, **kw)
        jax.block_until_ready(compiled(*args))  # Warm.
        meta = _hlo_metadata(fn, args, kw)
        with tempfile.TemporaryDirectory() as tmp:
            jax.profiler.start_trace(tmp, create_perfetto_trace=True)
            t = time.perf_counter()
            out = jax.block_until_ready(compiled(*args))
            seconds_fn = time.perf_counter() - t
            jax.profiler.stop_trace()
            (path,) = glob.glob(os.path.join(tmp, "**", "perfetto_trace.json.gz"), recursive=True)
            events = json.load(gzip.open(path))
        wall += seconds_fn
        events = events["traceEvents"] if isinstance(events, dict) else events
        op_time = collections.defaultdict(float)
        for e in events:
            if e.get("ph") == "X" and e["name"] in meta:
                op_time[e["name"]] += e["dur"] * 1e-6
        total = sum(op_time.values())
        for name, seconds in op_time.items():  # Ops overlap on threads: scale to the wall.
            per_stage[_stage(meta[name])] += seconds / total * seconds_fn
        for name, seconds in sorted(op_time.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{seconds:8.3f} s  {name:30s} {meta[name].split('decode_input_frame)/')[-1]}")
        t = time.perf_counter()
        jax.device_get(out)
        transfers += time.perf_counter() - t
    return dict(per_stage), wall, transfers


FLAGS = flags.FLAGS


def main(argv):
    del argv
    settings = protocol.Settings(precision=FLAGS.precision)
    rows = {}
    for case in FLAGS.cases.split(","):
        name, size = case.split(":")
        model, gt, features = case_inputs(name, int(size))
        rows[case] = profile(step_functions(model, gt, features, settings), FLAGS.ops)
    print(
        f"device {jax.devices()[0]}, {os.cpu_count()} CPUs; jax {jax.__version__}; "
        f"precision {FLAGS.precision}; tool: jax.profiler trace, ops by HLO op_name"
    )
    stages = [s for s, _ in STAGES] + ["other (loop, copies, selection)"]
    print("| stage | " + " | ".join(f"{c} (s)" for c in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for stage in stages:
        cells = [
            f"{r[0].get(stage, 0.0):.2f} ({100 * r[0].get(stage, 0.0) / r[1]:.0f} %)"
            for r in rows.values()
        ]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print("| host transfers | " + " | ".join(f"{r[2] * 1e3:.1f} ms" for r in rows.values()) + " |")
    print("| **one Oracle step** | " + " | ".join(f"**{r[1]:.2f}**" for r in rows.values()) + " |")


if __name__ == "__main__":
    flags.DEFINE_string(
        "cases", "litemedsam:256,litemedsam:512,sam_vit_b:1024", "MODEL:IMAGE_SIZE, comma-separated"
    )
    flags.DEFINE_string("precision", "highest", "precision")
    flags.DEFINE_integer("ops", 0, "Print the most expensive ops.")
    app.run(main)
