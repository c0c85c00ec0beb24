"""The paper's study: click policies (EIG-guided, Oracle, baselines) × models × datasets.

  python -m experiments.eig_vs_oracle            # the demo: LiteMedSAM, bundled samples
  python -m experiments.eig_vs_oracle --models=sam_vit_b,medsam \
      --params=workspace/params/sam_vit_b,workspace/params/medsam \
      --dataset=sa_med2d:/data/SAMed2Dv1 --sub_datasets=FLARE,ACDC,PALM --num_images=100

Every setting is a flag (`--help`; `experiments/config.py`). Writes records, EIG maps,
tables and figures under `--workdir` (`experiments/records.py`, `experiments/report.py`).
"""

import sys

from absl import app, logging

from eigjax.data import DataError
from experiments import config, config_flags, interrupts, study
from experiments.config import StudyConfig
from experiments.records import WorkdirBusy

config_flags.define(StudyConfig)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    interrupts.install()
    try:
        report = study.run_study(config_flags.config(StudyConfig))
    except (ValueError, DataError, WorkdirBusy) as e:  # Records already written are kept.
        sys.exit(f"error: {e}")
    except OSError as e:  # A full disk, a path that is a file, a read-only directory.
        sys.exit(f"error: {config.os_error(e)}; every record written is kept")
    except KeyboardInterrupt:
        print(
            "stopped; every record written is kept: rerun the same command to resume",
            file=sys.stderr,
        )
        sys.exit(130)
    if report:
        print(f"report → {report}")


if __name__ == "__main__":
    app.run(main)
