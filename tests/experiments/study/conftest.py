"""The study's shared run: one small study on the bundled samples, made once per test
process and read by the modules that compare against it (each in the xdist group
`helpers.GROUP`, so on one worker: the run is made once)."""

import pytest

from tests.experiments.study.helpers import run_study


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory):
    """The default dataset and model (LiteMedSAM, bundled samples), 3 images, its report."""
    workdir = tmp_path_factory.mktemp("run")
    run_study(workdir, "--num_images=3")
    return workdir
