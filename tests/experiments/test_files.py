"""The one atomic writer (`experiments.files`): a block that ends replaces the file, one
that raises leaves the old file and no temporary name behind."""

import json
import os

import pytest

from experiments import files


def test_a_finished_block_replaces_the_file_and_a_raising_one_keeps_it(tmp_path):
    path = str(tmp_path / "sub" / "a.json")
    files.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), files.atomic(path) as tmp:
        with open(tmp, "w") as f:
            f.write("{half")
        raise RuntimeError("killed mid-write")
    with open(path) as f:
        assert json.load(f) == {"v": 1}
    assert os.listdir(tmp_path / "sub") == ["a.json"]
    with files.atomic(path, suffix=".npz") as tmp:
        assert tmp.endswith(".npz") and os.path.dirname(tmp) == os.path.dirname(path)
        with open(tmp, "w") as f:
            f.write('{"v": 2}')
    with open(path) as f:
        assert json.load(f) == {"v": 2}
    assert os.listdir(tmp_path / "sub") == ["a.json"]
