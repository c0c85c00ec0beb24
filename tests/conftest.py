import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from eigjax.models import configs

SHARED_DATA = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "sam-med2d-demo"
)
DEMO_DIR = os.environ.get("EIGJAX_DEMO_DATA", SHARED_DATA)

# A reduced-size SAM for fast parity tests: 256 px input (16x16 embedding, 64x64 logits),
# 3 blocks (windowed, global, windowed; window 7 pads 16 → 21), narrower ViT. The decoder
# is the real one.
TINY = dataclasses.replace(
    configs.get_config("sam_vit_b"),
    name="tiny_test",
    image_size=256,
    encoder=dataclasses.replace(
        configs.VIT_B, embed_dim=96, depth=3, num_heads=4, global_attn_indexes=(1,), window_size=7
    ),
)


def demo_image(name: str = "amos_0507_31.png") -> np.ndarray:
    """A real CT slice (uint8 [H, W, 3]) from the SA-Med2D demo data; skips if absent."""
    path = os.path.join(DEMO_DIR, "data_demo", "images", name)
    if not os.path.exists(path):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    return np.asarray(Image.open(path).convert("RGB"))


def run_converter(*args: str) -> subprocess.CompletedProcess:
    """`python -m weights_convert ARGS`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "weights_convert", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def tiny_official():
    from tests import official

    return official.build_official(TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_official):
    """TINY with the official random weights, through the real key map."""
    from eigjax.models import Model
    from eigjax.models.sam import abstract_params
    from tests import official
    from weights_convert import keymap, sam

    sd = official.state_dict_numpy(tiny_official)
    params = keymap.apply(sd, sam.keymap(TINY), abstract_params(TINY))
    return Model(TINY, params)


@pytest.fixture(scope="session")
def vit_b_official():
    from tests import official

    return official.build_official(configs.get_config("sam_vit_b"), seed=1)


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
