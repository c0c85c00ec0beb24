"""Writing a dataset's samples as a tfds dataset (array_record), without TensorFlow.

  DATA_DIR/NAME/1.0.0/  NAME-SPLIT.array_record-0000K-of-0000N   the examples, in shards
                        dataset_info.json, features.json           tfds's metadata (last)
                        eigjax_prepare.json                        the source, shard sizes and
                                                                   each shard's SHA-256

Not through `GeneratorBasedBuilder.download_and_prepare`: its shuffler spills to
`tf.io.gfile` above 1 GB per split (tfds 4.9.10, `core/shuffle.py`), which needs
TensorFlow, and it restarts from nothing when killed. Here each shard streams from the
source into a `.partial` file renamed when whole: memory is one example, a killed run
resumes at its first missing shard, and the examples keep the source's order (sample k
of the prepared split is sample k of the direct reader). tfds' own
`folder_dataset.write_metadata` writes the metadata that makes it a tfds dataset.
"""

import hashlib
import json
import os
from collections.abc import Callable, Sequence

import tensorflow_datasets as tfds
from tensorflow_datasets.core import file_adapters, naming
from tensorflow_datasets.core import splits as splits_lib

from eigjax.data import tfds_features
from eigjax.data.images import DataError, SampleRef

MANIFEST = "eigjax_prepare.json"
ADAPTER = file_adapters.ArrayRecordFileAdapter


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_manifest(path: str, wanted: dict) -> None:
    """Writes `wanted` to `path`, or checks the one there (a resumed preparation) has the
    same source and shards; DataError naming it otherwise."""
    if os.path.exists(path):
        with open(path) as f:
            there = json.load(f)
        there.pop("sha256", None)
        if there != wanted:
            raise DataError(
                f"{path}: this dataset was prepared from {there.get('source')} "
                f"({there.get('num_examples')} samples, shards of {there.get('shard_size')}), "
                "not from these settings; give another --name or delete it"
            )
        return
    with open(path, "w") as f:
        json.dump(wanted, f, indent=1)


def _write_shard(path: str, refs: Sequence[SampleRef], features) -> None:
    """`refs` as one array_record shard at `path`, through `path`.partial (removed if a
    sample fails or the run is stopped: no half shard is left)."""
    examples = (
        (None, features.serialize_example(features.encode_example(ex)))
        for ex in map(tfds_features.example, refs)
    )
    try:
        ADAPTER.write_examples(path + ".partial", examples)
    except BaseException:
        if os.path.exists(path + ".partial"):
            os.remove(path + ".partial")
        raise
    os.replace(path + ".partial", path)


def _write_metadata(template, lengths: list[int], features) -> list[str]:
    """tfds' dataset_info.json and features.json for the shards; returns their names."""
    directory = os.fspath(template.data_dir)
    shards = [
        os.path.basename(template.sharded_filepath(shard_index=k, num_shards=len(lengths)))
        for k in range(len(lengths))
    ]
    info = splits_lib.SplitInfo(
        name=template.split,
        shard_lengths=lengths,
        num_bytes=sum(os.path.getsize(os.path.join(directory, f)) for f in shards),
        filename_template=template,
    )
    tfds.folder_dataset.write_metadata(
        data_dir=directory,
        features=features,
        split_infos=[info],
        version=tfds_features.VERSION,
        check_data=False,  # True reads through tf.data.
        description=tfds_features.DESCRIPTION,
    )
    return shards


def prepare(
    refs: Sequence[SampleRef],
    data_dir: str,
    name: str,
    source: dict,
    split: str = "train",
    shard_size: int = 1000,
    progress: Callable[[int], None] = lambda n: None,
) -> str:
    """Writes `refs` as split `split` of tfds dataset `name` under `data_dir`; returns its
    directory. Resumes a killed run (same `source`, the spec's identity, and shard size),
    `progress(n)` told of every n samples written or found done. DataError (naming the
    file) on a malformed sample: shards already written are kept."""
    if not refs:
        raise DataError(f"{source}: no samples to prepare")
    directory = os.path.join(data_dir, name, tfds_features.VERSION)
    os.makedirs(directory, exist_ok=True)
    num_shards = -(-len(refs) // shard_size)
    lengths = [min(shard_size, len(refs) - k * shard_size) for k in range(num_shards)]
    manifest = os.path.join(directory, MANIFEST)
    wanted = {"source": source, "split": split, "num_examples": len(refs), "shard_size": shard_size}
    _check_manifest(manifest, wanted)
    template = naming.ShardedFileTemplate(
        data_dir=directory, dataset_name=name, split=split, filetype_suffix="array_record"
    )
    features = tfds_features.features()
    for k in range(num_shards):
        path = os.fspath(template.sharded_filepath(shard_index=k, num_shards=num_shards))
        if not os.path.exists(path):
            _write_shard(path, refs[k * shard_size : k * shard_size + lengths[k]], features)
        progress(lengths[k])
    shards = _write_metadata(template, lengths, features)
    checksums = {f: _sha256(os.path.join(directory, f)) for f in shards}
    with open(manifest + ".partial", "w") as f:
        json.dump({**wanted, "sha256": checksums}, f, indent=1)
    os.replace(manifest + ".partial", manifest)
    return directory
