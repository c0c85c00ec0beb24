"""The paper's study: click policies (EIG-guided, Oracle, baselines) × models × datasets.

  eigjax-study            # the demo: LiteMedSAM beside the calibrated control, bundled samples
  eigjax-study --models=sam_vit_b,sam2.1_hiera_tiny --dataset=sa_med2d:/data/SAMed2Dv1
      --sub_datasets=FLARE,ACDC,PALM --num_images=100 --workdir=workspace/results/samed2d
  eigjax-study --report_only --workdir=workspace/results/samed2d   # the report again

Checkpoints are fetched by name on first use (or --params=DIR,...). Writes records, EIG
maps, tables and figures under --workdir and resumes where it stopped. The manual:
docs/study.md. Also `python -m experiments.study`.
"""

from eigjax.data import DataError
from experiments import cli, config_flags
from experiments.files import WorkdirBusy
from experiments.study.config import StudyConfig
from experiments.study.run import run_study

config_flags.define(StudyConfig)


def main(argv):
    report = cli.run_main(
        argv,
        lambda: run_study(config_flags.config(StudyConfig)),
        (ValueError, DataError, WorkdirBusy),  # Records already written are kept.
        kept="every record written is kept",
        stopped="every record written is kept: rerun the same command to resume",
    )
    if report:
        print(f"report → {report}")


def run() -> None:
    """The `eigjax-study` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
