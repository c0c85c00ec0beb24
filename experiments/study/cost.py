"""What a study will take on this device: a cost model whose constants were measured on
2 CPU cores (docs/benchmarks.md), scaled by this device's measured matmul rate, and
checked at the end against what the study then took.

  decoder work   per candidate click, the decoder's multiply-adds at the matmul rate times
                 CANDIDATE_OVERHEAD (PER_SLOT more per click slot carried); a policy's
                 own step costs SINGLE_DECODE candidates
  compiles       COMPILE_SECONDS per compiled step at the reference rate, scaled
  embeddings     one image's embedding, measured here, per image and run
"""

import dataclasses
import time

import jax
import jax.numpy as jnp

from eigjax.models import families
from eigjax.protocol import POLICIES

REFERENCE_RATE = 175e9  # FLOP/s of the machine the constants below were measured on.
CANDIDATE_OVERHEAD, PER_SLOT, SINGLE_DECODE = 1.55, 0.05, 5.0
COMPILE_SECONDS = 2.5  # One compiled step of the protocol (a loop, a step, a search).
REPORT_SECONDS = 15.0  # Tables with bootstrap CIs, and the figures.


def matmul_rate() -> float:
    """FLOP/s of a 1024³ float32 matmul on the default device (best of 3)."""
    a = jnp.ones((1024, 1024), jnp.float32)
    f = jax.jit(lambda a: jnp.dot(a, a, precision="highest"))
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(3):
        clock = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - clock)
    return 2 * 1024**3 / best


@dataclasses.dataclass(frozen=True)
class Workload:
    """What one run does: masks for the cheap policies and for the Oracle, and those whose
    maps are kept (a compile of their own)."""

    images: int
    oracle_images: int
    kept: int


def decoder_seconds(cfg, model: str, work: Workload, rate: float) -> float:
    """The decoder work of one model's runs (every setting); none for the calibrated
    control (its "decoder" is a weighted sum of its hypotheses)."""
    config = families.get_config(model)
    macs = families.family(config).decoder_macs
    if macs is None:
        return 0.0
    candidate = 2 * macs(config) / rate * CANDIDATE_OVERHEAD
    total = 0.0
    for settings in cfg.settings:
        for policy in cfg.policies:
            searches = POLICIES[policy].kind == "search"
            images = work.oracle_images if searches else work.images
            per_image = SINGLE_DECODE * candidate * cfg.steps
            if searches:
                slots = range(cfg.steps - 1)
                per_image += sum(settings.grid**2 * candidate * (1 + PER_SLOT * k) for k in slots)
            total += images * per_image
    return total


def compile_seconds(cfg, work: Workload, rate: float) -> float:
    """The protocol's compiles of one model's runs: a loop per loop policy, the start and
    step of the others, and a search per Oracle step; twice where maps are kept."""
    count = 0
    for policy in cfg.policies:
        kind = POLICIES[policy].kind
        count += 1 if kind == "loop" else 2 + (cfg.steps - 1 if kind == "search" else 0)
    variants = 1 + (work.kept > 0)
    return len(cfg.settings) * variants * count * COMPILE_SECONDS * REFERENCE_RATE / rate


def estimate_seconds(cfg, work: Workload, rate: float, embed_seconds: dict[str, float]) -> float:
    """The whole study: per model its decoder work, compiles and embeddings (measured per
    model: `embed_seconds`), then the report."""
    total = REPORT_SECONDS * REFERENCE_RATE / rate if cfg.report else 0.0
    for model in cfg.models:
        total += decoder_seconds(cfg, model, work, rate) + compile_seconds(cfg, work, rate)
        total += len(cfg.settings) * (work.images + work.kept) * embed_seconds[model]
    return total
