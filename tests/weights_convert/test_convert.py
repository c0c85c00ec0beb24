"""The converter's strictness: every bad checkpoint gets a clear error naming the problem."""

import zipfile

import numpy as np
import pytest
import torch

import weights_convert
from eigjax.models import families
from references import official
from tests.helpers import run_converter
from weights_convert import keymap, sam
from weights_convert.torch_checkpoint import load_state_dict


@pytest.fixture(scope="module")
def vit_b_state_dict(vit_b_official):
    return official.state_dict_numpy(vit_b_official)


def test_missing_unexpected_and_misshaped_keys_are_all_listed(vit_b_state_dict):
    sd = dict(vit_b_state_dict)
    del sd["image_encoder.blocks.3.attn.qkv.bias"]
    sd["mask_decoder.extra_head.weight"] = np.zeros((2, 2), np.float32)
    sd["prompt_encoder.no_mask_embed.weight"] = np.zeros((1, 128), np.float32)
    with pytest.raises(weights_convert.ConversionError) as err:
        weights_convert.convert_state_dict("sam_vit_b", sd, what="bad.pth")
    msg = str(err.value)
    assert msg.startswith("bad.pth does not fit the model")
    assert "missing: image_encoder.blocks.3.attn.qkv.bias" in msg
    assert "unexpected: mask_decoder.extra_head.weight (2, 2)" in msg
    assert "mis-shaped: prompt_encoder.no_mask_embed.weight (1, 128)" in msg


def test_a_vit_b_checkpoint_does_not_convert_as_vit_l(vit_b_state_dict):
    with pytest.raises(weights_convert.ConversionError, match="missing: image_encoder.blocks.23"):
        weights_convert.convert_state_dict("sam_vit_l", vit_b_state_dict)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sam_vit_l", "sam_vit_h"])
def test_keymap_covers_the_official_large_models(name):
    """Every tensor of the official vit_l / vit_h maps, by shape (built on the meta device)."""
    config = families.get_config(name)
    with torch.device("meta"):
        model = official.build_official(config)
    # Zero-strided stand-ins: shapes without memory.
    sd = {k: np.broadcast_to(np.float32(0), v.shape) for k, v in model.state_dict().items()}
    from eigjax.models.network import abstract_params

    params = keymap.apply(sd, sam.keymap(config), abstract_params(config))
    assert len(params["image_encoder"]) == config.encoder.depth + 3


def _save(obj, path):
    torch.save(obj, path)
    return str(path)


def test_wrapped_and_module_prefixed_state_dicts_are_unwrapped(tmp_path):
    sd = {"module.a.weight": torch.ones(2, 3), "module.b": torch.zeros(1, dtype=torch.float16)}
    got = load_state_dict(_save({"model": sd, "epoch": 3}, tmp_path / "w.pth"))
    assert sorted(got) == ["a.weight", "b"] and got["b"].dtype == np.float32


class TrainerState:  # A pickled object that is not a tensor, like an optimizer.
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_refused_then_read_inertly_with_allow_pickle(tmp_path, capsys):
    path = _save({"model": {"w": torch.ones(2)}, "optimizer": TrainerState()}, tmp_path / "p.pth")
    capsys.readouterr()
    with pytest.raises(weights_convert.CheckpointReadError, match="--allow_pickle"):
        load_state_dict(path)
    got = load_state_dict(path, allow_pickle=True)
    np.testing.assert_array_equal(got["w"], np.ones(2, np.float32))
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"not a checkpoint at all" * 10), "not a PyTorch checkpoint"),
        (lambda p: p.write_bytes(b""), "not a PyTorch checkpoint"),
        (lambda p: _save([torch.ones(1)], p), "not a state_dict"),
        (lambda p: _save({"a": 1.5}, p), "not a tensor"),
    ],
    ids=["missing", "garbage", "empty", "list", "non-tensor"],
)
def test_unreadable_files_get_a_one_line_error(tmp_path, make, message):
    path = tmp_path / "x.pth"
    make(path)
    with pytest.raises(weights_convert.CheckpointReadError) as err:
        load_state_dict(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_checkpoint_gets_a_one_line_error(tmp_path):
    full = tmp_path / "full.pth"
    torch.save({"w": torch.randn(1000)}, full)
    data = full.read_bytes()
    for cut, name in [(len(data) // 2, "half.pth"), (len(data) - 30, "tail.pth")]:
        (tmp_path / name).write_bytes(data[:cut])
        with pytest.raises(weights_convert.CheckpointReadError) as err:
            load_state_dict(str(tmp_path / name))
        assert name in str(err.value) and "\n" not in str(err.value)


def test_corrupt_archive_member_gets_a_one_line_error(tmp_path):
    path = tmp_path / "c.pth"
    torch.save({"w": torch.randn(10)}, path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        members = {n: z.read(n) for n in names}
    with zipfile.ZipFile(path, "w") as z:  # Same archive, the pickle replaced by junk.
        for n, data in members.items():
            z.writestr(n, b"\x80\x02junk" if n.endswith("data.pkl") else data)
    with pytest.raises(weights_convert.CheckpointReadError, match="c.pth") as err:
        load_state_dict(str(path))
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_cli_reports_errors_in_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 100)
    proc = run_converter("--model=sam_vit_b", f"--checkpoint={bad}", f"--output={tmp_path / 'o'}")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr
    assert not (tmp_path / "o").exists()


def test_zeroed_bytes_inside_tensor_data_fail_the_zip_crc(tmp_path):
    """The reported case: 1000 bytes zeroed inside a tensor's data converted with exit 0."""
    path = tmp_path / "z.pth"
    torch.save({"w": torch.randn(5000)}, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 4000
    data[start : start + 1000] = bytes(1000)
    path.write_bytes(bytes(data))
    with pytest.raises(weights_convert.CheckpointReadError, match="fails its CRC-32 check"):
        load_state_dict(str(path))


def test_legacy_torch_save_files_are_read(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.arange(3.0)}, path, _use_new_zipfile_serialization=False)
    np.testing.assert_array_equal(load_state_dict(str(path))["w"], [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.nan, a),
            "1 NaN or infinite",
        ),
        (lambda a: np.full_like(a, np.inf), "NaN or infinite"),
        (lambda a: a.astype(np.int64), "is int64, not a float tensor (not cast)"),
        (lambda a: a.astype(np.complex64), "is complex64, not a float tensor"),
    ],
    ids=["nan", "inf", "int", "complex"],
)
def test_weights_must_be_finite_floats_named(vit_b_state_dict, change, message):
    sd = dict(vit_b_state_dict)
    key = "mask_decoder.iou_prediction_head.layers.0.weight"
    sd[key] = change(sd[key])
    with pytest.raises(weights_convert.ConversionError) as err:
        weights_convert.convert_state_dict("sam_vit_b", sd, what="w.pth")
    assert f"invalid: {key} " in str(err.value) and message in str(err.value)


@pytest.mark.parametrize(
    "state, message",
    [
        ({"a.weight": torch.ones(2), "module.a.weight": torch.zeros(2)}, "ambiguous"),
        ({1: torch.ones(2)}, "a key is int 1, not a name"),
        (
            {"a.weight": torch.zeros(1).expand(10**7, 10**7)},  # 10^14 values over 4 bytes.
            r"entry 'a.weight' declares shape \(10000000, 10000000\), more values than the 4 bytes",
        ),
    ],
    ids=["prefix-twins", "non-string-key", "stride-0-giant"],
)
def test_ambiguous_or_nameless_keys_are_refused(tmp_path, state, message):
    with pytest.raises(weights_convert.CheckpointReadError, match=message) as err:
        load_state_dict(_save(state, tmp_path / "k.pth"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("where", ["under-a-file", "dangling-link", "read-only"])
def test_output_paths_that_cannot_be_written_get_one_line(tmp_path, where):
    pth = _save({"w": torch.ones(1)}, tmp_path / "w.pth")
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        out, message = tmp_path / "file" / "out", "cannot be created under the file"
    elif where == "dangling-link":
        out, message = tmp_path / "link", "a symbolic link to nothing"
        out.symlink_to(tmp_path / "nowhere")
    else:  # sysfs refuses new directories even to root (chmod would not stop root).
        out, message = "/sys/eigjax_test/out", "cannot be created (Operation not permitted)"
    proc = run_converter("--model=litemedsam", f"--checkpoint={pth}", f"--output={out}")
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
