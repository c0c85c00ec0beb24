"""`python -m experiments.report`: the study's report again under the name it had before the
apps got their folders, kept so that written commands still run; it runs
`python -m experiments.study.report`."""

import runpy

if __name__ == "__main__":
    runpy.run_module("experiments.study.report", run_name="__main__", alter_sys=True)
