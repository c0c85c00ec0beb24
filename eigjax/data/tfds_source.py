"""A prepared tfds dataset as the study's samples: random access through
`tfds.data_source` (array_record), without TensorFlow.

`tfds:NAME[:SPLIT]` (split "train" by default) names either a folder (any path: the
dataset's version folder, or its parent holding version folders, the newest taken), or a
dataset by name in tfds' data dir (`$TFDS_DATA_DIR`, default ~/tensorflow_datasets).
Opening reads only tfds' metadata: the samples are a lazy sequence, each record read when
its sample is (`tfds_features.sample_ref`), so opening takes the same time and memory at
any size.
"""

import functools
import os
from collections.abc import Sequence

import tensorflow_datasets as tfds

from eigjax.data import tfds_features
from eigjax.data.images import DataError, SampleRef


def version_dir(name: str) -> str:
    """The version folder of the dataset `name` (a folder, or a name in tfds' data dir)."""
    if os.path.isdir(name):
        if os.path.exists(os.path.join(name, "dataset_info.json")):
            return os.path.realpath(name)
        versions = [v for v in os.listdir(name) if tfds.core.Version.is_valid(v)]
        if not versions:
            raise DataError(f"{name}: no dataset_info.json, nor version folders holding one")
        newest = max(versions, key=tfds.core.Version)
        return version_dir(os.path.join(name, newest))
    try:
        return os.path.realpath(os.fspath(tfds.builder(name).data_path))
    except Exception as e:  # tfds raises several kinds for a name it cannot find.
        raise DataError(
            f"tfds:{name}: no such folder, and no prepared dataset of that name in tfds' "
            f"data dir ({type(e).__name__}: {str(e).splitlines()[0]})"
        ) from None


class Samples(Sequence[SampleRef]):
    """The samples of one split, in the prepared order; slicing gives a view."""

    def __init__(self, directory: str, split: str, indices: range | None = None):
        self.directory, self.split = directory, split
        builder = tfds.builder_from_directory(directory)
        if split not in builder.info.splits:
            raise DataError(
                f"{directory}: no split {split!r}; it has {sorted(builder.info.splits)}"
            )
        skip = {k: tfds.decode.SkipDecoding() for k in tfds_features.PIXELS}
        missing = [k for k in tfds_features.REQUIRED if k not in builder.info.features]
        if missing:
            raise DataError(
                f"{directory}: no {missing} feature; eigjax reads the features of "
                "eigjax/data/tfds_features.py"
            )
        self._source = builder.as_data_source(split=split, decoders=skip)
        self.indices = range(len(self._source)) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            view = object.__new__(Samples)
            view.__dict__.update(self.__dict__, indices=self.indices[k])
            return view
        i = self.indices[k]
        name = f"{self.directory}[{self.split}][{i}]"
        read = functools.partial(self._source.__getitem__, i)
        return tfds_features.sample_ref(read(), name, read)
