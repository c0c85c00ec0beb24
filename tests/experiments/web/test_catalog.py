"""The page's catalog: one entry per image, its masks its ground truths, named for its file."""

import nibabel as nib
import numpy as np

from eigjax.data import spec as dataset_spec
from experiments.web.catalog import Catalog, image_names


def test_a_volumes_slices_are_images_of_their_own_with_the_labels_in_them(tmp_path):
    for folder in ("im", "lab"):
        (tmp_path / folder).mkdir()
    label = np.zeros((8, 6, 3), np.int16)
    label[2:5, 2:5, :] = 1
    label[5:7, 4:6, 1] = 2
    for folder, volume in (("im", np.random.default_rng(0).random(label.shape)), ("lab", label)):
        nib.save(
            nib.Nifti1Image(volume.astype(np.float32), np.eye(4)), tmp_path / folder / "c.nii.gz"
        )
    spec = f"nifti:{tmp_path / 'im'}:{tmp_path / 'lab'}"
    catalog = Catalog.from_dataset(spec)
    assert {name: e.truths for name, e in catalog.entries.items()} == {
        "c.nii.gz:0": ("label_1",),
        "c.nii.gz:1": ("label_1", "label_2"),
        "c.nii.gz:2": ("label_1",),
    }
    samples = {s.id: s for s in dataset_spec.samples(dataset_spec.parse(spec))}
    entry = catalog.entries["c.nii.gz:1"]
    assert entry.describe()["width"] == 8 and entry.file_name == "c.nii.gz"
    for k, truth in enumerate(entry.truths):
        image, mask = entry.load(k)
        sample = samples[f"c_axial_001_{truth}"]
        np.testing.assert_array_equal(image, sample.image)
        np.testing.assert_array_equal(mask, sample.mask)


def test_images_sharing_a_file_name_are_named_by_their_path():
    assert image_names([("/d/a/x.png", None), ("/d/b/y.png", None)]) == ["x.png", "y.png"]
    assert image_names([("/d/a/x.png", None), ("/d/b/x.png", None)]) == ["a/x.png", "b/x.png"]
    assert image_names([("/d/v.nii", 3), ("/e/v.nii", 3)]) == ["d/v.nii:3", "e/v.nii:3"]
