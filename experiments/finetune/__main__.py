"""Teach a box-trained model to read clicks: SAM's interactive training on its decoder.

  python -m experiments.finetune                    # LiteMedSAM on the offline set
  python -m experiments.finetune --model=medsam --params=workspace/params/medsam \
      --dataset=sa_med2d:/data/SAMed2Dv1 --steps=5000 --batch_size=16 --workdir=...

Every setting is a flag (`--help`; `experiments/finetune/config.py`). Writes
`WORKDIR/params/` (load it with `models.load(model, WORKDIR/params)` or give it to the
study as `--params`), `WORKDIR/log.csv` and resumable checkpoints (`training.py`).
"""

from absl import app

from eigjax.data import DataError
from experiments import cli, config_flags
from experiments.finetune import training
from experiments.finetune.config import FinetuneConfig

config_flags.define(FinetuneConfig)


def main(argv):
    out = cli.run_main(
        argv,
        lambda: training.run_finetune(config_flags.config(FinetuneConfig)),
        (ValueError, DataError),
        kept="the last checkpoint is kept",
        stopped="rerun the same command to resume from the last checkpoint",
    )
    print(f"params → {out}")


if __name__ == "__main__":
    app.run(main)
