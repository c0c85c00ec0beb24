"""Fixtures shared by the tests; helpers live in tests/helpers.py."""

import os
import tempfile

# One persistent XLA compilation cache per test worker (shared with the scripts its tests
# start): many tests compile the same protocol programs. Not one across workers: JAX writes
# an entry in place, where the other worker may read it half-written.
_worker = "-".join(
    os.environ.get(k, str(os.getpid())) for k in ("PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER")
)
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"eigjax-xla-{_worker}")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after the cache's environment)
import pytest  # noqa: E402

from eigjax.models import families  # noqa: E402
from tests.helpers import TINY, run_converter  # noqa: E402

# Implicit rank promotion hides shape bugs (a [N] against a [N, 1] broadcasts silently).
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_collection_modifyitems(items):
    """A `heavy` case is `slow` too (the markers: pyproject.toml), so `-m "not slow"` is the
    quick tier. The files with heavy cases first, then those with the most slow cases:
    xdist (`--dist loadfile`) hands the files out in this order, so the longest start
    early and the rest balance around them, not after them."""
    slow_in: dict[str, int] = {}
    heavy_in: set[str] = set()
    for item in items:
        if item.get_closest_marker("heavy"):
            item.add_marker(pytest.mark.slow)
            heavy_in.add(item.nodeid.split("::")[0])
        if item.get_closest_marker("slow"):
            module = item.nodeid.split("::")[0]
            slow_in[module] = slow_in.get(module, 0) + 1

    def order(item):  # Files with heavy cases, then by their slow cases, most first.
        module = item.nodeid.split("::")[0]
        return (
            module not in heavy_in,
            -slow_in.get(module, 0),
            item.get_closest_marker("heavy") is None,
        )

    items.sort(key=order)


@pytest.fixture(scope="module", autouse=True)
def _free_compiled_programs():
    """Drops every compiled program after each test module (`protocol.free_programs`): a
    worker's memory maps passed 47,000 in tests/protocol alone, and CI saw one die past
    vm.max_map_count (`test_lockstep_batch_equals_single_runs`, late in its run)."""
    yield
    from eigjax import protocol

    protocol.free_programs()


@pytest.fixture(scope="session")
def tiny_official():
    from references import official

    return official.build_official(TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_official):
    """TINY with the official random weights, through the real key map."""
    from eigjax.models import Model
    from eigjax.models.network import abstract_params
    from references import official
    from weights_convert import keymap, sam

    sd = official.state_dict_numpy(tiny_official)
    params = keymap.apply(sd, sam.keymap(TINY), abstract_params(TINY))
    return Model(TINY, params)


@pytest.fixture(scope="session")
def vit_b_official():
    from references import official

    return official.build_official(families.get_config("sam_vit_b"), seed=1)


@pytest.fixture(scope="session")
def vit_b_converted(vit_b_official, tmp_path_factory):
    """A random official sam_vit_b saved as .pth and converted through the CLI: the dir."""
    import torch

    tmp = tmp_path_factory.mktemp("vit_b")
    pth, out = tmp / "sam_vit_b_random.pth", tmp / "converted"
    torch.save(vit_b_official.state_dict(), pth)
    proc = run_converter("--model=sam_vit_b", f"--checkpoint={pth}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    return out
