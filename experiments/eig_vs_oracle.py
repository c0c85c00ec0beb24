"""`python -m experiments.eig_vs_oracle`: the name the study had before the apps got their folders,
kept so that commands written with it still run; it runs `python -m experiments.study`."""

import runpy

if __name__ == "__main__":
    runpy.run_module("experiments.study", run_name="__main__", alter_sys=True)
