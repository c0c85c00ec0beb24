"""The base every app's settings share, as frozen configs.

`Config` holds what the apps share (models and their params, the dataset and its filters,
the protocol's `Settings`, embedded rather than repeated); each app adds its own in its
folder (`study/config.py`, `web/config.py`, `finetune/config.py`). `config_flags.py`
derives one absl flag per field of a config class, so a shared field has one name, one
default, one help text and one check in every script; `config.json` is the config
serialised.

A protocol setting that changes results may be given several values to the study
(`--start=center,box`): it then runs each combination as its own run, and the report keeps
them apart. The page takes one value per setting.
"""

import dataclasses
import itertools
import os
from typing import ClassVar

from eigjax import protocol
from eigjax.models import CONFIGS


def check_directory(flag: str, path: str) -> None:
    """Raises ValueError when `path` (a --flag's directory) exists and is not a directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--{flag}={path}: is a file, not a directory")


def field(default, help: str, flag: bool = True):
    """A config field with its flag's help text (`flag=False`: not a flag)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


class Script:
    """What `config_flags` reads of a script's config class besides its fields."""

    # Protocol settings a script takes as flags (None: all), and whether it sweeps them.
    setting_flags: ClassVar[tuple[str, ...] | None] = None
    sweeps: ClassVar[bool] = False
    # Defaults that replace the class's own when --dataset is left at "bundled" (and
    # --full_demo's instead, where the class has that flag).
    demo: ClassVar[dict] = {}
    demo_full: ClassVar[dict] = {}
    # Pairs of flags that may not both be given.
    exclusive: ClassVar[tuple[tuple[str, str], ...]] = ()


@dataclasses.dataclass(frozen=True)
class Config(Script):
    """What every script shares: models, their params, the dataset, the protocol."""

    models: tuple[str, ...] = field(("litemedsam",), "Model names (the first is the default).")
    params: tuple[str, ...] = field(
        (),
        "Converted params directories, one per model ('': the cached conversion, fetched by "
        "name on first use).",
    )
    dataset: str = field(
        "bundled",
        "bundled | sa_med2d:ROOT | folder:ROOT | coco:ANNOTATIONS:IMAGES | "
        "nifti:IMAGES:LABELS[:KEY=VALUE,...] | tfds:NAME[:SPLIT] (eigjax/data/spec.py)",
    )
    sub_datasets: tuple[str, ...] = field((), "SA-Med2D sub-datasets (e.g. FLARE,ACDC).")
    labels: tuple[str, ...] = field((), "SA-Med2D label names (e.g. liver,aorta).")
    categories: tuple[str, ...] = field(("person",), "COCO category names.")
    num_images: int = field(0, "Masks to use; 0 = all.")
    settings: tuple[protocol.Settings, ...] = field(
        (protocol.Settings(),), "The protocol's settings, one per run.", flag=False
    )

    def check(self) -> None:
        """Raises ValueError naming the first invalid setting (as its flag)."""
        unknown = sorted(set(self.models) - set(CONFIGS))
        if unknown or not self.models:
            raise ValueError(f"--models: unknown {unknown}; valid: {sorted(CONFIGS)}")
        if self.params and len(self.params) != len(self.models):
            raise ValueError(
                f"--params: {len(self.params)} given for {len(self.models)} models "
                "(one per --models entry, '' for the cached conversion)"
            )
        if self.num_images < 0:
            raise ValueError(f"--num_images must be 0 (all) or more, got {self.num_images}")

    def check_settings(self, steps: int) -> None:
        for settings in self.settings:
            try:
                settings.check(steps)
            except ValueError as e:
                raise ValueError(f"--{e}") from None

    @property
    def model_params(self) -> list[tuple[str, str | None]]:
        """(model name, params directory or None for the cached conversion) per model."""
        params = self.params or ("",) * len(self.models)
        return [(m, p or None) for m, p in zip(self.models, params, strict=True)]


def sweep(base: protocol.Settings, values: dict[str, tuple]) -> tuple[protocol.Settings, ...]:
    """Every combination of `values` ({field: (value, ...)}) applied to `base`."""
    names = sorted(values)
    return tuple(
        dataclasses.replace(base, **dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(values[n] for n in names))
    )
