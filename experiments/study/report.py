"""Tables and figures of a study's workdir, again (the study writes them at its end too).

  python -m experiments.study.report --workdir=workspace/eig_vs_oracle [--fig1_axis=twin]

What it writes: `summarize.py`.
"""

import sys

from absl import app

from experiments import cli, config_flags, files
from experiments.study import summarize
from experiments.study.config import ReportConfig

config_flags.define(ReportConfig)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    cli.sentences()
    try:
        cfg = config_flags.config(ReportConfig)
        print(f"report → {summarize.write_report(cfg.workdir, cfg)}")
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # A report directory that is a file, a full disk.
        sys.exit(f"error: {files.os_error(e)}")


if __name__ == "__main__":
    app.run(main)
