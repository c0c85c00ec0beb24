"""eigjax-convert: an official checkpoint → Flax params, by name, by address or by file.

  eigjax-convert --model=sam_vit_b          # the publisher's file, fetched, checked, cached
  eigjax-convert --model=sam2.1_hiera_tiny --checkpoint_url=URL --sha256=HEX
  eigjax-convert --model=medsam --checkpoint=medsam_vit_b.pth

The params go to `--output`, by default the cache (`$EIGJAX_CACHE/params/<model>`), where
`eigjax.models.load(model)` and every command's `--params` default find them. Also
`python -m weights_convert`.
"""

import os
import sys

from absl import flags, logging

import weights_convert
from eigjax.models import CheckpointError, cache, checkpoint, families
from experiments import cli
from weights_convert import download, sources

_MODEL = flags.DEFINE_enum("model", None, weights_convert.MODELS, "Model name.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A checkpoint file you have (.pth/.pt); default: fetch it by name."
)
_CHECKPOINT_URL = flags.DEFINE_string(
    "checkpoint_url", None, "Fetch the checkpoint from this address instead of by name."
)
_SHA256 = flags.DEFINE_string(
    "sha256",
    None,
    "With --checkpoint_url: the file's SHA-256 (hex) to check; without it, trusted on first "
    "use (recorded, and every later download must match).",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Directory to write the params to; default: the cache, for models.load."
)
_ALLOW_PICKLE = flags.DEFINE_bool(
    "allow_pickle",
    False,
    "Read checkpoints that hold pickled objects besides tensors (e.g. an optimizer); "
    "those objects are replaced by inert placeholders, never executed.",
)
flags.mark_flags_as_required(["model"])
flags.mark_flags_as_mutual_exclusive(["checkpoint", "checkpoint_url"])


def _checkpoint(model: str) -> str:
    """The checkpoint file to convert: given, fetched from the given address, or by name."""
    if _CHECKPOINT.value:
        return _CHECKPOINT.value
    if _CHECKPOINT_URL.value:
        sha = (_SHA256.value or "").lower()
        if sha and (len(sha) != 64 or set(sha) - set("0123456789abcdef")):
            raise ValueError(f"--sha256: {_SHA256.value!r} is not 64 hexadecimal digits")
        url = _CHECKPOINT_URL.value
        return download.fetch(url, f"sha256:{sha}" if sha else None, "given with --sha256")
    if _SHA256.value:
        raise ValueError("--sha256 checks a file given with --checkpoint_url")
    return sources.checkpoint_for(model)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    model, output = _MODEL.value, _OUTPUT.value or cache.params_dir(_MODEL.value)
    if not _OUTPUT.value and os.path.exists(os.path.join(output, "model.json")):
        print(f"{model} is already converted in {output} (delete it to convert again)")
        return
    try:
        path = _checkpoint(model)
        weights_convert.convert(model, path, output, _ALLOW_PICKLE.value)
        # The result, read back as every loader reads it: each array against its checksum.
        checkpoint.restore(output, families.get_config(model), require_checksums=True)
        skipped = checkpoint.read_meta(output).get("skipped", [])
    except (
        ValueError,
        download.DownloadError,
        weights_convert.CheckpointReadError,
        weights_convert.ConversionError,
        CheckpointError,
    ) as e:
        sys.exit(f"error: {e}")
    note = (
        f"; skipped {len(skipped)} tensors it does not use, listed in model.json" if skipped else ""
    )
    print(f"converted {path} ({model}) → {output}{note}")


def run() -> None:
    """The `eigjax-convert` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
