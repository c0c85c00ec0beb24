"""Convert an official checkpoint: python -m weights_convert --model=sam_vit_b \
--checkpoint=sam_vit_b_01ec64.pth --output=converted/sam_vit_b"""

import sys

from absl import app, flags, logging

import weights_convert
from eigjax.models import CheckpointError, checkpoint

_MODEL = flags.DEFINE_enum("model", None, weights_convert.MODELS, "Model name.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Official .pth checkpoint.")
_OUTPUT = flags.DEFINE_string("output", None, "Directory to write the converted params to.")
_ALLOW_PICKLE = flags.DEFINE_bool(
    "allow_pickle",
    False,
    "Read checkpoints that hold pickled objects besides tensors (e.g. an optimizer); "
    "those objects are replaced by inert placeholders, never executed.",
)
flags.mark_flags_as_required(["model", "checkpoint", "output"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    try:
        weights_convert.convert(_MODEL.value, _CHECKPOINT.value, _OUTPUT.value, _ALLOW_PICKLE.value)
        skipped = checkpoint.read_meta(_OUTPUT.value).get("skipped", [])
    except (
        weights_convert.CheckpointReadError,
        weights_convert.ConversionError,
        CheckpointError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    note = (
        f"; skipped {len(skipped)} tensors it does not use, listed in model.json" if skipped else ""
    )
    print(f"converted {_CHECKPOINT.value} ({_MODEL.value}) → {_OUTPUT.value}{note}")


if __name__ == "__main__":
    app.run(main)
