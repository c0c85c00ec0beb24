"""Compiling and placing the protocol's batched steps: the compile cache, sharding over a
mesh, and the one rule for the Oracle's chunk (how many candidates run at once)."""

import dataclasses
import time
from collections.abc import Callable

import jax
import numpy as np

CPU_CHUNK = 4  # Measured best on CPUs: small chunks stay in cache (docs/benchmarks.md).
MEMORY_FRACTION = 0.5  # Of the accelerator's free memory, for the Oracle's candidates.


# Programs kept before every one is dropped (`Compiled.free`). Each loaded XLA CPU program
# holds memory maps (about 660 for a protocol step on LiteMedSAM), and past the kernel's
# vm.max_map_count (65,530 by default) XLA aborts the next compile: a study over images of
# many sizes would die after about 50 sizes.
MAX_PROGRAMS = 32


class Compiled:
    """Ahead-of-time compiled jitted functions, one per (function, shapes, statics), so that
    compiles can be counted and their time kept out of a run's clock; at most
    `max_programs` at once."""

    def __init__(self, max_programs: int = MAX_PROGRAMS):
        self.cache = {}
        self.seconds = 0.0  # Spent compiling, in total.
        self.max_programs = max_programs

    def get(self, fn, *args, **statics):
        """`fn` (jitted, `statics` its static arguments) compiled for `args`' shapes."""
        leaves, treedef = jax.tree_util.tree_flatten(args)
        avals = tuple((np.shape(x), str(x.dtype), getattr(x, "sharding", None)) for x in leaves)
        key = (fn, treedef, avals, tuple(sorted(statics.items())))
        if key not in self.cache:
            if len(self.cache) >= self.max_programs:
                self.free()
            clock = time.perf_counter()
            self.cache[key] = fn.lower(*args, **statics).compile()
            self.seconds += time.perf_counter() - clock
        return self.cache[key]

    def __call__(self, fn, *args, **statics):
        return self.get(fn, *args, **statics)(*args)

    def count(self, fn) -> int:
        """How many compiles of `fn` are kept."""
        return sum(key[0] is fn for key in self.cache)

    def free(self) -> None:
        """Drops every compiled program, these and JAX's own (they recompile on demand)."""
        self.cache.clear()
        jax.clear_caches()


COMPILED = Compiled()
free_programs = COMPILED.free  # For long-lived callers (the page): see MAX_PROGRAMS.


def put(tree, mesh):
    """Host arrays → device, the leading (batch) axis of each split over `mesh`'s devices."""
    if mesh is None:
        return jax.device_put(tree)

    def one(x):
        spec = jax.sharding.PartitionSpec("batch", *([None] * (np.ndim(x) - 1)))
        return jax.device_put(x, jax.sharding.NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(one, tree)


def put_replicated(tree, mesh):
    """Host arrays → device, whole on each of `mesh`'s devices (once per run)."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def free_memory(device) -> int:
    """Bytes `device` has free now: an accelerator's limit less what is in use
    (`memory_stats`), a CPU's available memory (/proc/meminfo's MemAvailable)."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def needed_memory(compiled) -> int:
    """Bytes a compiled program holds while it runs: its arguments, outputs and
    temporaries (XLA's memory analysis; 0 where the backend gives none)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return 0
    return stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes


def chunk_for_memory(free_bytes: int, per_candidate_bytes: int, candidates: int) -> int:
    """The Oracle's chunk on an accelerator: every candidate at once where they fit in
    MEMORY_FRACTION of the free memory, else as many as do (at least 1)."""
    fit = int(MEMORY_FRACTION * free_bytes // max(per_candidate_bytes, 1))
    return max(1, min(candidates, fit))


def oracle_chunk(settings, lower: Callable) -> int:
    """`settings.oracle_chunk`, or when 0: CPU_CHUNK on a CPU; on an accelerator, the
    `chunk_for_memory` of its free memory (`memory_stats`) and the per-candidate temporary
    memory of the Oracle step, read from XLA's memory analysis of the step compiled with
    chunks of 1 and 2 (`lower(settings)` → the step lowered for those settings). The study
    and the web page both choose their chunk here."""
    if settings.oracle_chunk:
        return settings.oracle_chunk
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if not stats or "bytes_limit" not in stats:
        return CPU_CHUNK

    def temp_bytes(chunk):
        probe = dataclasses.replace(settings, oracle_chunk=chunk)
        return lower(probe).compile().memory_analysis().temp_size_in_bytes

    per_candidate = temp_bytes(2) - temp_bytes(1)
    return chunk_for_memory(free_memory(device), per_candidate, settings.grid**2)
