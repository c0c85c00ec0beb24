"""`python -m experiments.serve`: the name the web page had before the apps got their folders,
kept so that commands written with it still run; it runs `python -m experiments.web`."""

import runpy

if __name__ == "__main__":
    runpy.run_module("experiments.web", run_name="__main__", alter_sys=True)
