"""Tables and figures of a study's workdir, again (the study writes them at its end too).

  python -m experiments.report --workdir=workspace/eig_vs_oracle

What it writes: `experiments/summarize.py`.
"""

import sys

from absl import app, flags

from experiments import summarize

_WORKDIR = flags.DEFINE_string("workdir", "workspace/eig_vs_oracle", "Experiment directory.")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    try:
        print(f"report → {summarize.write_report(_WORKDIR.value)}")
    except FileNotFoundError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
