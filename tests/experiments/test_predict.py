"""`python -m experiments.predict`: one image with a box or clicks, read by the datasets'
rule, answered with the model's own proposed token."""

import numpy as np
import pytest
from PIL import Image

from tests.helpers import run_module


def _predict(tmp_path, image: np.ndarray, prompt: str):
    """`experiments.predict` on `image` (saved as PNG) with one prompt flag; its process."""
    Image.fromarray(image).save(tmp_path / "image.png")
    proc = run_module(
        "experiments.predict",
        f"--image={tmp_path / 'image.png'}",
        prompt,
        f"--output={tmp_path / 'out'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_predict_reads_images_by_the_datasets_rule(tmp_path):
    """A 16-bit PNG: PIL's own RGB conversion clips it to white; the rule min-max scales."""
    image = np.zeros((40, 50), np.uint16)
    image[10:30, 10:40] = 3000
    _predict(tmp_path, image, "--box=10,10,39,29")
    overlay = np.asarray(Image.open(tmp_path / "out" / "overlay.png"))
    assert overlay[0, 0].tolist() == [0, 0, 0]  # Background stays black, not clipped white.


@pytest.mark.slow
def test_predict_proposes_the_models_own_token(tmp_path):
    """LiteMedSAM's rule is token 0 (trained single-mask), for a click as for a box."""
    image = np.zeros((40, 50, 3), np.uint8)
    image[10:30, 10:40] = 200
    proc = _predict(tmp_path, image, "--points=25:20:1")
    assert "; token 0 covers" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--box=60,10,70,20"], "--box: expected 0 <= x0 < x1 <= 50"),
        (["--box=10,10,10,20"], "--box: expected"),  # No area.
        (["--points=10:45:1"], "--points: click 1 (10, 45) is outside the 50×40 image"),
        ([], "no prompt: give --points, --box or both"),
        (["--points=10:10:1", "--token=9"], "--token: -1 or a token of litemedsam, got 9"),
        (["--points=10:10:1", "--output=FILE"], "is a file, not a directory"),
    ],
)
def test_what_predict_cannot_do_is_refused_in_one_line(tmp_path, flags, message):
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "image.png")
    (tmp_path / "FILE").write_text("a file")
    flags = [f.replace("FILE", str(tmp_path / "FILE")) for f in flags]
    out = ["--output=" + str(tmp_path / "out")] if not any("output" in f for f in flags) else []
    proc = run_module("experiments.predict", f"--image={tmp_path / 'image.png'}", *flags, *out)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-500:]
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
