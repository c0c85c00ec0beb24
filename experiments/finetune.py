"""Teach a box-trained model to read clicks: SAM's interactive training on its decoder.

  python -m experiments.finetune                    # LiteMedSAM on the offline set
  python -m experiments.finetune --model=medsam --params=workspace/params/medsam \
      --dataset=sa_med2d:/data/SAMed2Dv1 --steps=5000 --batch_size=16 --workdir=...

Every setting is a flag (`--help`; `experiments/config.py`, `FinetuneConfig`). Writes
`WORKDIR/params/` (load it with `models.load(model, WORKDIR/params)` or give it to the
study as `--params`), `WORKDIR/log.csv` and resumable checkpoints (`experiments/training.py`).
"""

import sys

from absl import app, logging

from eigjax.data import DataError
from experiments import config, config_flags, interrupts, training
from experiments.config import FinetuneConfig

config_flags.define(FinetuneConfig)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO.
    interrupts.install()
    try:
        out = training.run_finetune(config_flags.config(FinetuneConfig))
    except (ValueError, DataError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        sys.exit(f"error: {config.os_error(e)}; the last checkpoint is kept")
    except KeyboardInterrupt:
        print("stopped; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        sys.exit(130)
    print(f"params → {out}")


if __name__ == "__main__":
    app.run(main)
