"""The paper's study: click policies (EIG-guided, Oracle, baselines) × models × datasets.

  python -m experiments.study            # the demo: LiteMedSAM, bundled samples
  python -m experiments.study --models=sam_vit_b,medsam \
      --params=workspace/params/sam_vit_b,workspace/params/medsam \
      --dataset=sa_med2d:/data/SAMed2Dv1 --sub_datasets=FLARE,ACDC,PALM --num_images=100

Every setting is a flag (`--help`; `experiments/study/config.py`). Writes records, EIG maps,
tables and figures under `--workdir` (`records.py`, `summarize.py`).
"""

from absl import app

from eigjax.data import DataError
from experiments import cli, config_flags
from experiments.files import WorkdirBusy
from experiments.study import run
from experiments.study.config import StudyConfig

config_flags.define(StudyConfig)


def main(argv):
    report = cli.run_main(
        argv,
        lambda: run.run_study(config_flags.config(StudyConfig)),
        (ValueError, DataError, WorkdirBusy),  # Records already written are kept.
        kept="every record written is kept",
        stopped="every record written is kept: rerun the same command to resume",
    )
    if report:
        print(f"report → {report}")


if __name__ == "__main__":
    app.run(main)
