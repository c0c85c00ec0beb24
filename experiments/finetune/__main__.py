"""Teach a box-trained model to read clicks: SAM's interactive training on its decoder.

  eigjax-finetune                    # LiteMedSAM on the offline set
  eigjax-finetune --model=medsam --params=workspace/params/medsam
      --dataset=sa_med2d:/data/SAMed2Dv1 --steps=5000 --batch_size=16 --workdir=...

Writes `WORKDIR/params/` (load it with `models.load(model, WORKDIR/params)` or give it to
the study as `--params`), `WORKDIR/log.csv` and resumable checkpoints. The manual:
docs/finetune.md. Also `python -m experiments.finetune`.
"""

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


def run() -> None:
    """The `eigjax-finetune` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
