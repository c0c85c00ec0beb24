"""`nifti:IMAGES:LABELS` (nibabel): the bundled MNI152 slices from the real template, RAS
whatever the storage order, the window setting, name matching and one-line errors."""

import json
import os

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from eigjax.data import DataError, nifti, spec
from scripts.build_samples import WHEELS, fetch, mni_volumes


def _save(path, volume, affine=None):
    nib.save(nib.Nifti1Image(volume, np.eye(4) if affine is None else affine), str(path))


@pytest.fixture(scope="module")
def mni(tmp_path_factory):
    """nilearn's MNI152 T1 as IMAGES/mni152.nii.gz and a label volume made from it
    (1: white matter, 2: the rest of the brain) as LABELS/mni152.nii.gz, with MSD's
    dataset.json naming them."""
    tmp = tmp_path_factory.mktemp("mni")
    files = fetch(str(tmp), {"nilearn": WHEELS["nilearn"]})
    _, masks = mni_volumes(files, str(tmp))
    t1 = next(m for m in files if "_t1_tal" in m)
    (tmp / "imagesTr").mkdir()
    (tmp / "imagesTr" / "mni152_0000.nii.gz").write_bytes(files[t1])
    affine = nib.load(str(tmp / "imagesTr" / "mni152_0000.nii.gz")).affine
    label = np.where(masks["white_matter"], 1, np.where(masks["brain"], 2, 0)).astype(np.uint8)
    (tmp / "labelsTr").mkdir()
    _save(tmp / "labelsTr" / "mni152.nii.gz", label, affine)
    names = {"labels": {"0": "background", "1": "white_matter", "2": "other_brain"}}
    (tmp / "dataset.json").write_text(json.dumps(names))
    return tmp


def _bundled(kind, name):
    return np.asarray(Image.open(os.path.join(spec.bundled_root(), kind, name)))


@pytest.mark.slow
def test_the_bundled_slices_come_out_exactly(mni):
    for axis, index in (("axial", 90), ("coronal", 126)):
        ds = spec.parse(f"nifti:{mni / 'imagesTr'}:{mni / 'labelsTr'}:axis={axis},step=6")
        refs = {r.id: r for r in spec.index(ds)}
        ref = refs[f"mni152_{axis}_{index:03d}_white_matter"]
        s = ref.read()
        assert s.meta["label"] == "white_matter"
        assert ref.size() == s.mask.shape[::-1]  # (width, height), without reading the slice.
        assert f"mni152_{axis}_{index:03d}_other_brain" in refs
        rows, cols = s.mask.shape  # The bundled slices are zero-padded to 256×256, centred.
        top, left = (256 - rows) // 2, (256 - cols) // 2
        crop = (slice(top, top + rows), slice(left, left + cols))
        bundled = _bundled("images", f"mni152_{axis}_{index:03d}.png")[crop]
        np.testing.assert_array_equal(s.image[..., 0], bundled)
        assert (s.image == s.image[..., :1]).all()
        wm = _bundled("masks", f"mni152_{axis}_{index:03d}_white_matter_000.png")[crop] > 0
        np.testing.assert_array_equal(s.mask, wm)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.booleans(), min_size=3, max_size=3), st.permutations([0, 1, 2]))
def test_a_volume_reads_as_ras_whatever_its_storage_order(flips, order):
    """The same anatomy stored flipped and transposed (its affine saying so) reads the same."""
    rng = np.random.default_rng(0)
    ras = rng.random((3, 4, 5)).astype(np.float32)
    stored = np.transpose(ras, order)  # stored axis k is RAS axis order[k]
    affine = np.zeros((4, 4))
    affine[3, 3] = 1
    for k, axis in enumerate(order):
        if flips[k]:
            stored = np.flip(stored, k)
        affine[axis, k] = -1.0 if flips[k] else 1.0
        affine[axis, 3] = (stored.shape[k] - 1) if flips[k] else 0.0
    path = f"/tmp/eigjax_ras_{os.getpid()}.nii.gz"
    _save(path, np.ascontiguousarray(stored), affine)
    try:
        np.testing.assert_array_equal(nifti.read_volume(path), ras)
    finally:
        os.remove(path)


def test_a_window_maps_low_to_0_and_high_to_255_clipped():
    a = np.array([[-1000.0, -160.0], [40.0, 3000.0]])
    np.testing.assert_array_equal(nifti.to_uint8(a, (-160, 240)), [[0, 0], [128, 255]])
    np.testing.assert_array_equal(nifti.to_uint8(a, None), [[0, 54], [66, 255]])


def test_options_and_missing_volumes_are_one_line_naming_them(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "lab").mkdir()
    _save(tmp_path / "im" / "case.nii.gz", np.zeros((2, 2, 2), np.float32))
    for options, message in [
        ("axis=up", "axis=up: valid"),
        ("window=5..1", "LOW must be below HIGH"),
        ("colour=red", "unknown options \\['colour'\\]"),
        ("step", "KEY=VALUE"),
    ]:
        with pytest.raises(DataError, match=message):
            spec.parse(f"nifti:{tmp_path / 'im'}:{tmp_path / 'lab'}:{options}")
    with pytest.raises(DataError, match="case.nii.gz: no label volume case.nii.gz"):
        spec.index(spec.parse(f"nifti:{tmp_path / 'im'}:{tmp_path / 'lab'}"))
    (tmp_path / "lab" / "case.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(DataError, match="lab/case.nii.gz: unreadable NIfTI volume"):
        spec.index(spec.parse(f"nifti:{tmp_path / 'im'}:{tmp_path / 'lab'}"))
