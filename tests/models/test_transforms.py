"""Pre/post-processing against the references: torch interpolation, PIL, MedSAM's script."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import transform as sk_transform

from eigjax.data import to_uint8_rgb
from eigjax.models import families, resample, transforms
from references import official
from tests.helpers import assert_parity, demo_image


@pytest.mark.parametrize("n_in,n_out", [(256, 1024), (1024, 290), (7, 3), (5, 13), (256, 256)])
def test_bilinear_matrix_matches_torch_interpolate(n_in, n_out):
    x = np.random.RandomState(0).randn(2, n_in).astype(np.float32)
    ref = F.interpolate(torch.as_tensor(x)[None], size=n_out, mode="linear", align_corners=False)
    ours = x.astype(np.float64) @ resample.bilinear_matrix(n_in, n_out).T
    np.testing.assert_allclose(ours, ref[0].numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(320, 290), (181, 258), (1500, 1024), (64, 2000)])
def test_postprocess_matrices_match_sam_postprocess_masks(size):
    config = families.get_config("sam_vit_b")
    low = np.random.RandomState(1).randn(1, 2, 256, 256).astype(np.float32)
    input_size = transforms.input_size(size, config)
    with torch.no_grad():
        ref = official.sam_methods(config).postprocess_masks(torch.as_tensor(low), input_size, size)
    rows, cols = transforms.postprocess_matrices(size, config)
    ours = np.einsum("hi,mij,wj->mhw", rows, low[0], cols, optimize=True)
    assert_parity(ours, ref[0].numpy(), f"postprocess to {size}", tol=1e-5)


def test_medsam_postprocess_is_one_bilinear_resize():
    config = families.get_config("medsam")
    low = np.random.RandomState(2).randn(1, 1, 256, 256).astype(np.float32)
    ref = F.interpolate(torch.as_tensor(low), (181, 258), mode="bilinear", align_corners=False)
    rows, cols = transforms.postprocess_matrices((181, 258), config)
    ours = np.einsum("hi,mij,wj->mhw", rows, low[0], cols, optimize=True)
    assert_parity(ours, ref[0].numpy(), "medsam postprocess", tol=1e-5)


def test_sam_input_is_the_reference_resize_normalise_pad():
    image = demo_image("s0114_111.png")  # 181 x 258
    config = families.get_config("sam_vit_b")
    x = transforms.preprocess(image, config)
    h, w = resample.longest_side_shape(181, 258, 1024)
    assert (h, w) == (718, 1024) and x.shape == (1024, 1024, 3)
    assert np.all(x[h:] == 0)
    # ResizeLongestSide.apply_image: torchvision's resize of a PIL image = PIL bilinear.
    resized = np.array(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    with torch.no_grad():
        ref = official.sam_methods(config).preprocess(
            torch.as_tensor(resized).permute(2, 0, 1).float()
        )
    np.testing.assert_allclose(x, ref.permute(1, 2, 0).numpy(), atol=1e-5)


def test_medsam_input_follows_its_inference_script():
    image = demo_image("s0619_32.png")
    x = transforms.preprocess(image, families.get_config("medsam"))
    # MedSAM_Inference.py, verbatim in numpy.
    img_1024 = sk_transform.resize(
        image, (1024, 1024), order=3, preserve_range=True, anti_aliasing=True
    ).astype(np.uint8)
    img_1024 = (img_1024 - img_1024.min()) / np.clip(
        img_1024.max() - img_1024.min(), a_min=1e-8, a_max=None
    )
    np.testing.assert_allclose(x, img_1024, atol=1e-7)
    assert x.min() == 0.0 and x.max() == 1.0


def test_medsam_coords_are_stretched_per_axis():
    config = families.get_config("medsam")
    out = transforms.transform_coords(np.array([[100.0, 50.0]]), (200, 400), config)
    np.testing.assert_allclose(out, [[256.0, 256.0]])


def test_model_input_follows_the_one_reading_rule():
    """Images reach the encoder through `to_uint8_rgb`, the rule datasets use too."""
    config = families.get_config("litemedsam")
    image = np.random.default_rng(0).random((40, 50)).astype(np.float32) * 3000
    np.testing.assert_array_equal(
        transforms.preprocess(image, config),
        transforms.preprocess(to_uint8_rgb(image), config),
    )
    with pytest.raises(ValueError, match="cannot read an image of shape"):
        transforms.preprocess(np.zeros((4, 4, 5), np.uint8), config)
