"""absl flags generated from a config class of `experiments/config.py` (and the
`protocol.Settings` it embeds), and the config read back from them: one definition of every
setting, its default and its help, for every script.

  --models=a,b            tuple[str, ...] fields: comma-separated lists
  --steps=20              int / float / bool / str fields: one value
  --start=center,box      protocol settings that change results: one value, or several
                          where the script sweeps (the study runs every combination)
  --oracle_chunk=8        protocol settings that only change speed: one value

Values are checked at start, with a one-line message naming the flag (a float flag must be
finite: `inf` and `nan` are refused before any work). Why not
`ml_collections.config_flags`: it reads one config, with no sweeps, and the typed checks
and the one-line messages would still be ours to write.
"""

import dataclasses
import math
import typing

from absl import flags

from eigjax import protocol
from experiments.config import Script, sweep


def _flagged(cls) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def _setting_fields(cls) -> list[tuple[dataclasses.Field, type]]:
    """The protocol settings `cls` takes as flags (none without a `settings` field)."""
    if "settings" not in {f.name for f in dataclasses.fields(cls)}:
        return []
    return [
        (f, kind)
        for f, kind in _flagged(protocol.Settings)
        if cls.setting_flags is None or f.name in cls.setting_flags
    ]


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


def define(cls: type[Script], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one flag per flagged field of `cls` and of the protocol settings it takes."""
    default = cls()
    for f, kind in _flagged(cls):
        value, help_ = getattr(default, f.name), f.metadata["help"]
        if typing.get_origin(kind) is tuple:
            flags.DEFINE_list(f.name, list(value), help_, flag_values=flag_values)
        elif kind is bool:
            flags.DEFINE_bool(f.name, value, help_, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(f.name, value, help_, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(f.name, value, help_, flag_values=flag_values)
        else:
            flags.DEFINE_string(f.name, value, help_, flag_values=flag_values)
    for f, kind in _setting_fields(cls):
        value, help_ = getattr(default.settings[0], f.name), f.metadata["help"]
        if f.metadata["affects_results"] and cls.sweeps:
            help_ += " Several values (comma-separated) run each."
        flags.DEFINE_string(
            f.name,
            str(value).lower() if kind is bool else str(value),
            help_,
            flag_values=flag_values,
        )


def config(cls: type[Script], flag_values: flags.FlagValues = flags.FLAGS) -> Script:
    """The `cls` config the parsed flags describe (`cls.demo`'s defaults, or with
    --full_demo `cls.demo_full`'s, for the bundled dataset where a flag was not given),
    checked. Raises ValueError naming a flag."""
    for a, b in cls.exclusive:
        if flag_values[a].present and flag_values[b].present:
            raise ValueError(f"give --{a} or --{b}, not both")
    demo = {}
    if "dataset" in flag_values and flag_values["dataset"].value == "bundled":
        full = "full_demo" in flag_values and flag_values["full_demo"].value
        demo = cls.demo_full if full else cls.demo

    def value(name):
        if name in demo and not flag_values[name].present:
            return demo[name]
        return flag_values[name].value

    fields = {}
    for f, kind in _flagged(cls):
        v = value(f.name)
        if kind is float and not math.isfinite(v):
            raise ValueError(f"--{f.name}: {v} is not a finite number")
        if typing.get_origin(kind) is tuple:
            element = typing.get_args(kind)[0]
            v = tuple(_parse_value(f.name, element, str(t)) for t in v)
        fields[f.name] = v
    swept, single = {}, {}
    for f, kind in _setting_fields(cls):
        v = value(f.name)
        texts = list(v) if isinstance(v, tuple) else [t.strip() for t in str(v).split(",")]
        parsed = tuple(_parse_value(f.name, kind, t) for t in texts if t)
        if not parsed:
            raise ValueError(f"--{f.name}: no value given")
        if f.metadata["affects_results"] and cls.sweeps:
            swept[f.name] = tuple(dict.fromkeys(parsed))  # Repeats run once.
        elif len(parsed) > 1:
            raise ValueError(f"--{f.name}: takes one value, got {list(parsed)}")
        else:
            single[f.name] = parsed[0]
    if _setting_fields(cls):
        base = dataclasses.replace(cls().settings[0], **single)
        fields["settings"] = sweep(base, swept)
    cfg = cls(**fields)
    cfg.check()
    return cfg


def to_json(cfg) -> dict:
    """The config as JSON-ready data (`config.json`)."""
    return dataclasses.asdict(cfg)
