"""What `Settings(precision=...)` changes: clicks, Dice and speed, on the bundled samples.

  python -m benchmarks.precision                  # LiteMedSAM, every bundled mask
  python -m benchmarks.precision --oracle_grid=30 --steps=5

Each precision runs the EIG-guided sequence (the paper's 30x30 grid) and the Oracle
(`--oracle_grid`, 12x12 by default to keep the run short) from the centre click; clicks
and Dice are compared with `highest` (float32, the parity setting) step by step, and the
seconds per click (compilation excluded) are reported beside.
"""

import numpy as np
from absl import app, flags

from eigjax import models, protocol
from eigjax.data import spec

FLAGS = flags.FLAGS


def main(argv):
    del argv
    model = models.load("litemedsam")
    samples = list(spec.samples(spec.parse("bundled")))
    results = {}
    for precision in FLAGS.precisions.split(","):
        for policy, grid in (("eig", 30), ("oracle", FLAGS.oracle_grid)):
            settings = protocol.Settings(grid=grid, precision=precision)
            results[precision, policy] = [
                protocol.run(model, s.image, s.mask, policy, FLAGS.steps, 0, settings)
                for s in samples
            ]
    print(f"{len(samples)} bundled masks, LiteMedSAM, {FLAGS.steps} steps from the centre click")
    print("| precision | policy | clicks equal to highest | max abs Dice change | s / click |")
    print("|---|---|---|---|---|")
    for (precision, policy), recs in results.items():
        ref = results["highest", policy]
        same = np.mean([np.array_equal(a.clicks, b.clicks) for a, b in zip(recs, ref, strict=True)])
        steps_same = np.mean(
            [np.mean(np.all(a.clicks == b.clicks, axis=1)) for a, b in zip(recs, ref, strict=True)]
        )
        change = max(float(np.max(np.abs(a.dice - b.dice))) for a, b in zip(recs, ref, strict=True))
        seconds = np.mean([r.seconds_per_click for r in recs])
        print(
            f"| {precision} | {policy} | {same:.0%} of sequences, {steps_same:.0%} of steps | "
            f"{change:.2g} | {seconds:.3f} |"
        )


if __name__ == "__main__":
    flags.DEFINE_string("precisions", "highest,default,bfloat16", "precisions, comma-separated")
    flags.DEFINE_integer("steps", 5, "steps per sequence")
    flags.DEFINE_integer("oracle_grid", 12, "the Oracle's grid side")
    app.run(main)
