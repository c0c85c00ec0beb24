"""absl flags generated from `StudyConfig` (and the `protocol.Settings` it embeds), and the
config read back from them: one definition of every setting, its default and its help.

  --models=a,b            tuple[str, ...] fields: comma-separated lists
  --steps=20              int / bool / str fields: one value
  --start=center,box      protocol settings that change results: one value, or several
                          (the study runs every combination, each its own run)
  --oracle_chunk=8        protocol settings that only change speed: one value

Values are checked at start, with a one-line message naming the flag.
"""

import dataclasses
import typing

from absl import flags

from eigjax import protocol
from experiments.config import DEFAULT, DEMO, StudyConfig, sweep


def _flagged(cls) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def _parse_value(name: str, kind: type, text: str):
    """One flag value from text, by the field's type."""
    if typing.get_origin(kind) is typing.Literal:
        if text not in typing.get_args(kind):
            raise ValueError(f"--{name}: {text!r} is not one of {list(typing.get_args(kind))}")
        return text
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--{name}: {text!r} is not true or false")
        return text.lower() in ("true", "1")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"--{name}: {text!r} is not an integer") from None
    return text


def define(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one flag per flagged field of StudyConfig and protocol.Settings."""
    for f, kind in _flagged(StudyConfig):
        default, help_ = getattr(DEFAULT, f.name), f.metadata["help"]
        if typing.get_origin(kind) is tuple:
            flags.DEFINE_list(f.name, list(default), help_, flag_values=flag_values)
        elif kind is bool:
            flags.DEFINE_bool(f.name, default, help_, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(f.name, default, help_, flag_values=flag_values)
        else:
            flags.DEFINE_string(f.name, default, help_, flag_values=flag_values)
    base = DEFAULT.settings[0]
    for f, kind in _flagged(protocol.Settings):
        default, help_ = getattr(base, f.name), f.metadata["help"]
        if f.metadata["affects_results"]:
            help_ += " Several values (comma-separated) run each."
        flags.DEFINE_string(
            f.name,
            str(default).lower() if kind is bool else str(default),
            help_,
            flag_values=flag_values,
        )


def config(flag_values: flags.FlagValues = flags.FLAGS) -> StudyConfig:
    """The StudyConfig the parsed flags describe (the demo's defaults for the bundled
    dataset where a flag was not given). Raises ValueError naming a malformed flag."""
    demo = flag_values["dataset"].value == "bundled"

    def value(name):
        if demo and name in DEMO and not flag_values[name].present:
            return DEMO[name]
        return flag_values[name].value

    study = {}
    for f, kind in _flagged(StudyConfig):
        v = value(f.name)
        study[f.name] = tuple(v) if typing.get_origin(kind) is tuple else v
    swept, single = {}, {}
    for f, kind in _flagged(protocol.Settings):
        v = value(f.name)
        texts = list(v) if isinstance(v, tuple) else [t.strip() for t in str(v).split(",")]
        parsed = tuple(_parse_value(f.name, kind, t) for t in texts if t)
        if not parsed:
            raise ValueError(f"--{f.name}: no value given")
        if f.metadata["affects_results"]:
            swept[f.name] = tuple(dict.fromkeys(parsed))  # Repeats run once.
        elif len(parsed) > 1:
            raise ValueError(f"--{f.name}: takes one value, got {list(parsed)}")
        else:
            single[f.name] = parsed[0]
    base = dataclasses.replace(DEFAULT.settings[0], **single)
    return StudyConfig(**study, settings=sweep(base, swept))


def to_json(cfg: StudyConfig) -> dict:
    """The config as JSON-ready data (`config.json`)."""
    return dataclasses.asdict(cfg)
