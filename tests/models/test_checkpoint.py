"""Converted params are checked end to end: checksums, metadata, used outputs, the cache of
conversions (real LiteMedSAM weights, converted through `weights_convert`)."""

import glob
import importlib.metadata
import json
import os
import shutil
import time

import numpy as np
import pytest

import weights_convert
from eigjax import models
from eigjax.models import CheckpointError, cache, checkpoint
from tests.helpers import run_converter


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The real LiteMedSAM checkpoint converted once; tests copy it before damaging it."""
    from weights_convert.sources import checkpoint_for

    out = tmp_path_factory.mktemp("lite") / "params"
    weights_convert.convert("litemedsam", checkpoint_for("litemedsam"), str(out))
    return out


@pytest.fixture
def copy(converted, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(converted, target)
    return target


def _data_files(directory):
    return sorted(glob.glob(str(directory / "params" / "**" / "d" / "*"), recursive=True))


@pytest.mark.slow
def test_flipped_bytes_in_the_data_name_the_broken_arrays(copy):
    models.load("litemedsam", str(copy))  # Intact: loads.
    largest = max(_data_files(copy), key=os.path.getsize)
    data = bytearray(open(largest, "rb").read())
    start = len(data) // 2
    data[start : start + 4000] = bytes(b ^ 0xFF for b in data[start : start + 4000])
    open(largest, "wb").write(bytes(data))
    with pytest.raises(CheckpointError) as err:
        models.load("litemedsam", str(copy))
    message = str(err.value)
    assert str(copy) in message and "reconvert" in message
    assert "SHA-256" in message or "unreadable" in message


def test_a_changed_array_fails_its_checksum_by_name(copy):
    meta = json.loads((copy / "model.json").read_text())
    name = sorted(meta["sha256"])[3]
    meta["sha256"][name] = "0" * 64  # As if that array's bytes had changed.
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="1 array.*fail.*SHA-256") as err:
        models.load("litemedsam", str(copy))
    assert name in str(err.value)


def test_malformed_model_json_is_named(copy):
    (copy / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"model.json: unreadable .*reconvert"):
        models.load("litemedsam", str(copy))


def test_missing_orbax_metadata_is_one_clear_error(copy):
    for name in ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt"):
        os.remove(copy / "params" / name)
    with pytest.raises(CheckpointError) as err:
        models.load("litemedsam", str(copy))
    message = str(err.value)
    assert "metadata missing or unreadable" in message and len(message.splitlines()) == 1


def test_converting_into_a_used_output_is_refused_before_any_work(converted, tmp_path):
    from weights_convert.sources import checkpoint_for

    clock = time.perf_counter()
    proc = run_converter(
        "--model=litemedsam",
        f"--checkpoint={checkpoint_for('litemedsam')}",
        f"--output={converted}",
    )
    assert proc.returncode == 1 and "already exists and is not empty" in proc.stderr
    assert "Traceback" not in proc.stderr and time.perf_counter() - clock < 30


@pytest.mark.slow
def test_a_damaged_cached_conversion_is_rebuilt_once(converted, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("EIGJAX_CACHE", str(tmp_path / "home"))
    cache = tmp_path / "home" / "params" / "litemedsam"
    shutil.copytree(converted, cache)
    meta = json.loads((cache / "model.json").read_text())
    meta["format"] = 1  # An old cache without checksums: rebuilt, not trusted.
    (cache / "model.json").write_text(json.dumps(meta))
    model = models.load("litemedsam")
    assert "rebuilding the cached litemedsam params" in caplog.text
    assert json.loads((cache / "model.json").read_text())["format"] == checkpoint.FORMAT_VERSION
    ref = checkpoint.restore(str(converted), model.config)
    np.testing.assert_array_equal(
        np.asarray(model.params["mask_decoder"]["iou_token"]), ref["mask_decoder"]["iou_token"]
    )


def test_the_library_reaches_the_converter_only_through_its_registry():
    """No module under eigjax/ imports weights_convert; the registry names the converter."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "eigjax")
    for path in glob.glob(os.path.join(root, "**", "*.py"), recursive=True):
        source = open(path).read()
        assert "import weights_convert" not in source and "from weights_convert" not in source, path
    (found,) = importlib.metadata.entry_points(group=cache.GROUP, name="default")
    assert found.value == "weights_convert.sources:convert_by_name"


@pytest.mark.slow
def test_params_that_are_not_finite_are_refused_at_load_by_name(converted, tmp_path):
    params = checkpoint.restore(str(converted), models.get_config("litemedsam"))
    params["mask_decoder"]["iou_token"] = np.full_like(params["mask_decoder"]["iou_token"], np.nan)
    checkpoint.save(str(tmp_path / "nan"), "litemedsam", params, source="test")  # Checksummed.
    with pytest.raises(CheckpointError, match=r"1 array\(s\) hold NaN .*iou_token"):
        models.load("litemedsam", str(tmp_path / "nan"))


def test_checking_an_output_leaves_no_directory_behind(tmp_path):
    (tmp_path / "kept").mkdir()  # An empty directory that existed stays.
    checkpoint.check_output(str(tmp_path / "kept" / "a" / "b"))
    assert os.listdir(tmp_path / "kept") == [] and (tmp_path / "kept").is_dir()
