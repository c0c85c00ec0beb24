import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

from eigjax.models import configs

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "sam-med2d-demo")
DEMO_DIR = os.environ.get("EIGJAX_DEMO_DATA", SHARED_DATA)

# A reduced-size SAM for fast parity tests: 256 px input (16x16 embedding, 64x64 logits),
# 3 blocks (windowed, global, windowed; window 7 pads 16 → 21), narrower ViT.
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
