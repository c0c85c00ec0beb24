"""Prepare a dataset as a tfds dataset (array_record), for random access at any size.

  eigjax-prepare --dataset=sa_med2d:/data/SAMed2Dv1 --data_dir=workspace/tfds
  eigjax-study --dataset=tfds:workspace/tfds/sa_med2d_samed2dv1

Reads `--dataset` (any spec of `eigjax/data/spec.py`, filtered as the study filters it)
with the direct readers and writes DATA_DIR/NAME/1.0.0/ (`eigjax/data/tfds_prepare.py`;
the features: `eigjax/data/tfds_features.py`). A killed run resumes at its first missing
shard when run again; a malformed source stops it with one line naming the file, the
shards already written kept. TensorFlow is never imported.
"""

import os
import re

from absl import flags
from tqdm import tqdm

from eigjax.data import DataError, tfds_prepare
from eigjax.data import spec as dataset_spec
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "bundled", "The dataset to prepare (not tfds:).")
flags.DEFINE_string("data_dir", "workspace/tfds", "tfds data dir the dataset is written under.")
flags.DEFINE_string("name", "", "Its tfds name; default from --dataset (e.g. sa_med2d_demo).")
flags.DEFINE_string("split", "train", "The split written.")
flags.DEFINE_list("sub_datasets", [], "SA-Med2D sub-datasets kept (e.g. FLARE,ACDC).")
flags.DEFINE_list("labels", [], "SA-Med2D label names kept (e.g. liver,aorta).")
flags.DEFINE_list("categories", ["person"], "COCO category names kept.")
flags.DEFINE_integer("num_images", 0, "Masks to prepare; 0 = all.")
flags.DEFINE_integer("shard_size", 1000, "Samples per array_record shard.", lower_bound=1)


def default_name(spec: dataset_spec.DatasetSpec) -> str:
    """A tfds-valid name from the spec: its kind and folder, snake_case."""
    base = "eigjax_samples" if spec.kind == "bundled" else spec.name.replace(":", "_")
    return re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_")


def prepare() -> str:
    spec = dataset_spec.parse(FLAGS.dataset)
    if spec.kind == "tfds":
        raise DataError(f"--dataset={FLAGS.dataset}: already a prepared dataset")
    refs = dataset_spec.index(
        spec, FLAGS.num_images, 0, FLAGS.sub_datasets, FLAGS.labels, FLAGS.categories
    )
    name = FLAGS.name or default_name(spec)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DataError(f"--name={name}: a tfds name is lowercase letters, digits and _")
    source = {
        "dataset": spec.identity,
        "filters": {
            "sub_datasets": FLAGS.sub_datasets,
            "labels": FLAGS.labels,
            "categories": FLAGS.categories if spec.kind == "coco" else [],
            "num_images": FLAGS.num_images,
        },
    }
    with tqdm(total=len(refs), desc=f"preparing {name}", unit="mask") as bar:
        return tfds_prepare.prepare(
            refs,
            os.path.abspath(FLAGS.data_dir),
            name,
            source,
            FLAGS.split,
            FLAGS.shard_size,
            bar.update,
        )


def main(argv):
    out = cli.run_main(
        argv,
        prepare,
        (ValueError, DataError),
        kept="the shards already written are kept",
        stopped="rerun the same command to resume",
    )
    print(f"prepared → {out}  (read it with --dataset=tfds:{os.path.dirname(out)})")


def run() -> None:
    """The `eigjax-prepare` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
