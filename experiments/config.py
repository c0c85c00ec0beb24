"""Every setting of the EIG-vs-Oracle study, in one frozen config.

`StudyConfig` holds the study's own settings and embeds the protocol's
(`eigjax.protocol.Settings`) rather than repeating them; `experiments/config_flags.py`
derives one absl flag per field, and `config.json` is this object serialised.

A protocol setting that changes results may be given several values (`--start=center,box`):
the study then runs each combination as its own run, and the report keeps them apart.

Two sets of defaults:
  DEFAULT   a study on your data: the paper's 30x30 grid, 20 clicks (RITM's NoC cap).
  DEMO      README command 1 on the bundled samples (`--dataset` left at `bundled`):
            LiteMedSAM from a centre click and from the ground-truth box, EIG-guided and
            Oracle on the paper's 30x30 grid, 4 steps (the start and 3 clicks) on 4 of the
            bundled masks; about 10 minutes on 2 CPU cores. Any flag you give wins.
"""

import dataclasses
import itertools

from eigjax import protocol
from eigjax.models import CONFIGS


def field(default, help: str, flag: bool = True):
    """A config field with its flag's help text (`flag=False`: not a flag)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    models: tuple[str, ...] = field(("litemedsam",), "Model names.")
    params: tuple[str, ...] = field(
        (), "Converted params directories, one per model ('' for a bundled model)."
    )
    dataset: str = field(
        "bundled", "bundled | sa_med2d:ROOT | folder:ROOT | coco:ANNOTATIONS:IMAGES"
    )
    sub_datasets: tuple[str, ...] = field((), "SA-Med2D sub-datasets (e.g. FLARE,ACDC).")
    labels: tuple[str, ...] = field((), "SA-Med2D label names (e.g. liver,aorta).")
    categories: tuple[str, ...] = field(("person",), "COCO category names.")
    num_images: int = field(0, "Masks to use; 0 = all.")
    policies: tuple[str, ...] = field(("eig", "oracle"), f"Of {list(protocol.POLICIES)}.")
    steps: int = field(20, "Steps per image (step 0 is the start): the NoC cap.")
    seed: int = field(0, "Seed of the random policies, the noisy box and NMC sampling.")
    settings: tuple[protocol.Settings, ...] = field(
        (protocol.Settings(),), "The protocol's settings, one per run.", flag=False
    )
    fig2_images: int = field(1, "Images per run whose EIG maps and masks are kept for Fig. 2.")
    save_masks: bool = field(False, "Keep every step's proposed mask in the records (COCO RLE).")
    batch_per_device: int = field(1, "Images per device in a lockstep batch.")
    distributed: bool = field(False, "Run as one of several processes (jax.distributed).")
    coordinator_address: str = field(
        "", "With --distributed: host:port of process 0's coordinator ('' = detect: SLURM, …)."
    )
    num_processes: int = field(0, "With --distributed: how many processes (0 = detect).")
    process_id: int = field(-1, "With --distributed: this process's index (-1 = detect).")
    workdir: str = field("workspace/eig_vs_oracle", "Output directory.")
    report: bool = field(True, "Write tables and figures at the end.")

    def check(self) -> None:
        """Raises ValueError naming the first invalid setting."""
        unknown = sorted(set(self.models) - set(CONFIGS))
        if unknown or not self.models:
            raise ValueError(f"--models: unknown {unknown}; valid: {sorted(CONFIGS)}")
        if self.params and len(self.params) != len(self.models):
            raise ValueError("--params needs one entry per --models entry ('' for bundled)")
        unknown = sorted(set(self.policies) - set(protocol.POLICIES))
        if unknown or not self.policies:
            raise ValueError(f"--policies: unknown {unknown}; valid: {list(protocol.POLICIES)}")
        if self.num_images < 0:
            raise ValueError(f"--num_images must be 0 (all) or more, got {self.num_images}")
        if self.batch_per_device < 1:
            raise ValueError(f"--batch_per_device must be at least 1, got {self.batch_per_device}")
        if self.fig2_images < 0:
            raise ValueError(f"--fig2_images must be 0 or more, got {self.fig2_images}")
        for settings in self.settings:
            try:
                settings.check(self.steps)
            except ValueError as e:
                raise ValueError(f"--{e}") from None
            grid_policies = set(self.policies) & set(protocol.GRID_POLICIES)
            if grid_policies and self.steps - 1 > settings.grid**2:
                raise ValueError(
                    f"--steps={self.steps}: a {settings.grid}x{settings.grid} grid has too few "
                    f"points for {sorted(grid_policies)}"
                )


def sweep(base: protocol.Settings, values: dict[str, tuple]) -> tuple[protocol.Settings, ...]:
    """Every combination of `values` ({field: (value, ...)}) applied to `base`."""
    names = sorted(values)
    return tuple(
        dataclasses.replace(base, **dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(values[n] for n in names))
    )


DEFAULT = StudyConfig()

# README command 1: contrasts a model that reads points badly with the same model given a
# fair start, on one mask of each bundled kind (a nucleus, the brain on two MNI slices,
# the quokka). Sized for about 10 minutes on 2 CPU cores (measured in README).
DEMO = {"steps": 4, "start": ("center", "box"), "labels": ("nucleus_0", "brain", "quokka")}
