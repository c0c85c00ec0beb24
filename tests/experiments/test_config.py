"""One configuration for every script: flags generated from the config classes, shared
fields with one default and one check, the demo's sizes and the full demo one flag away."""

import dataclasses

import pytest
from absl import flags

from eigjax import protocol
from experiments import config_flags
from experiments.config import Config
from experiments.study.config import StudyConfig
from experiments.web.config import ServeConfig


def _parse(cls, *argv):
    values = flags.FlagValues()
    config_flags.define(cls, values)
    values(["prog", *argv])
    return config_flags.config(cls, values)


def test_the_page_and_the_study_share_their_fields_defaults_and_checks():
    shared = {f.name for f in dataclasses.fields(Config)}
    assert shared >= {"models", "params", "dataset", "num_images", "settings"}
    for name in shared - {"settings"}:
        assert getattr(ServeConfig(), name) == getattr(StudyConfig(), name), name
    for cls in (ServeConfig, StudyConfig):
        with pytest.raises(ValueError, match="--grid must be at least 1"):
            _parse(cls, "--grid=0", "--dataset=folder:/x")
        with pytest.raises(ValueError, match=r"--params: 1 given for 2 models"):
            _parse(cls, "--models=litemedsam,litemedsam", "--params=a", "--dataset=folder:/x")


def test_the_page_takes_one_value_per_setting_and_no_study_only_flag():
    cfg = _parse(ServeConfig, "--grid=12", "--mask_rule=token0")
    assert cfg.settings == (protocol.Settings(grid=12, mask_rule="token0"),)
    with pytest.raises(ValueError, match="takes one value"):
        _parse(ServeConfig, "--grid=12,20")
    values = flags.FlagValues()
    config_flags.define(ServeConfig, values)
    assert "steps" not in values and "start" not in values and "port" in values
    with pytest.raises(ValueError, match="not both"):
        _parse(ServeConfig, "--images=/tmp", "--dataset=bundled")


def test_the_demo_is_sized_for_a_laptop_and_the_full_demo_is_one_flag_away():
    quick = _parse(StudyConfig)
    assert quick.steps == 4 and quick.oracle_images == 1
    assert quick.models == ("litemedsam", "calibrated")  # Both halves: the control beside.
    assert quick.policies == ("eig", "oracle", "random")
    assert {s.start for s in quick.settings} == {"center"}
    assert all(s.nmc_check and s.grid == 30 for s in quick.settings)
    full = _parse(StudyConfig, "--full_demo")
    assert full.steps == 5 and full.oracle_images == 0 and full.labels == quick.labels
    assert {s.start for s in full.settings} == {"center", "box"}
    assert _parse(StudyConfig, "--full_demo", "--steps=2").steps == 2  # A flag wins.
    own = _parse(StudyConfig, "--dataset=folder:/data")  # Not the demo: the defaults.
    assert own.steps == 20 and own.oracle_images == 0 and len(own.settings) == 1


def test_a_sweep_runs_each_combination_and_the_report_takes_its_options():
    cfg = _parse(StudyConfig, "--dataset=folder:/d", "--start=center,box", "--grid=8,12")
    assert len(cfg.settings) == 4
    cfg = _parse(StudyConfig, "--fig1_axis=twin", "--report_only")
    assert cfg.report_only and cfg.fig1_axis == "twin"
    with pytest.raises(ValueError, match="--oracle_images must be 0"):
        _parse(StudyConfig, "--oracle_images=-1")
