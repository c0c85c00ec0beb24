"""Every setting of every script, as frozen configs sharing one base.

`Config` holds what the scripts share (models and their params, the dataset and its
filters, the protocol's `Settings`, embedded rather than repeated); `StudyConfig` adds the
study's own settings, `ServeConfig` the web page's. `experiments/config_flags.py` derives
one absl flag per field of a config class, so a shared field has one name, one default,
one help text and one check in every script; `config.json` is the config serialised.

A protocol setting that changes results may be given several values to the study
(`--start=center,box`): it then runs each combination as its own run, and the report keeps
them apart. The page takes one value per setting.

Two sets of study defaults:
  StudyConfig()     a study on your data: the paper's 30x30 grid, 20 clicks (RITM's NoC cap).
  StudyConfig.demo  README command 1 on the bundled samples (`--dataset` left at `bundled`):
                    LiteMedSAM from a centre click and from the ground-truth box, EIG-guided
                    on the paper's 30x30 grid on one mask of each bundled kind, the Oracle on
                    the first mask of each run, 3 steps (the start and 2 clicks); about 3
                    minutes on 2 CPU cores. `--full_demo`: the Oracle on every mask, 4 steps.
                    Any flag you give wins.
"""

import dataclasses
import itertools
import os
from typing import ClassVar

from eigjax import protocol
from eigjax.models import CONFIGS
from eigjax.protocol import policies


def os_error(e: OSError) -> str:
    """An OSError as one line: the path and what is wrong with it."""
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


def check_directory(flag: str, path: str) -> None:
    """Raises ValueError when `path` (a --flag's directory) exists and is not a directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--{flag}={path}: is a file, not a directory")


def field(default, help: str, flag: bool = True):
    """A config field with its flag's help text (`flag=False`: not a flag)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


FIG1_AXES = {
    "shared": "Dice and max EIG on one y-axis, as the paper",
    "twin": "max EIG on a right axis, one scale for every panel",
}


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
class ReportOptions:
    """How the report draws (the study writes it at its end; `experiments.report` again)."""

    fig1_axis: str = field(
        "shared", "Fig. 1: " + "; ".join(f"{k}: {v}" for k, v in FIG1_AXES.items()) + "."
    )
    fig2_example: str = field(
        "", "Fig. 2's example (a sample id with kept maps); '' = the first one every run kept."
    )

    def check_report(self) -> None:
        if self.fig1_axis not in FIG1_AXES:
            raise ValueError(f"--fig1_axis: {self.fig1_axis!r} is not one of {list(FIG1_AXES)}")


@dataclasses.dataclass(frozen=True)
class Config(Script):
    """What every script shares: models, their params, the dataset, the protocol."""

    models: tuple[str, ...] = field(("litemedsam",), "Model names (the first is the default).")
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
                "(one per --models entry, '' for a bundled model)"
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
        """(model name, params directory or None for a bundled model) per model."""
        params = self.params or ("",) * len(self.models)
        return [(m, p or None) for m, p in zip(self.models, params, strict=True)]


@dataclasses.dataclass(frozen=True)
class StudyConfig(Config, ReportOptions):
    """The EIG-vs-Oracle study (`experiments.eig_vs_oracle`)."""

    sweeps: ClassVar[bool] = True
    demo: ClassVar[dict] = {
        # README command 1, sized for 5 minutes on a 2-core laptop: a model that reads
        # points badly (LiteMedSAM) beside the calibrated control (EIG right by
        # construction), from a centre click, on one mask of each bundled kind (a nucleus,
        # the brain on two MNI slices, the quokka); EIG-guided and random on all of them,
        # the Oracle (900 decodes per click) on the first of each run; the start and 3
        # clicks; the paper's estimator checked on every step.
        "models": ("litemedsam", "calibrated"),
        "policies": (*policies.PAPER, policies.RANDOM_GRID.name),
        "steps": 4,
        "labels": ("nucleus_0", "brain", "quokka"),
        "oracle_images": 1,
        "nmc_check": ("true",),
    }
    demo_full: ClassVar[dict] = {  # --full_demo: the box start too, the Oracle on every mask.
        **demo,
        "start": ("center", "box"),
        "steps": 5,
        "oracle_images": 0,
    }

    policies: tuple[str, ...] = field(policies.PAPER, f"Of: {policies.help_text()}.")
    steps: int = field(20, "Steps per image (step 0 is the start): the NoC cap.")
    oracle_images: int = field(
        0, "Masks of each run the Oracle runs on (the first N; 0 = all): 900 decodes per click."
    )
    full_demo: bool = field(
        False, "With the bundled dataset: the larger demo (the Oracle on every mask, 4 steps)."
    )
    seed: int = field(0, "Seed of the random policies, the noisy box and NMC sampling.")
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
        super().check()
        self.check_report()
        check_directory("workdir", self.workdir)
        if self.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {self.seed}")
        unknown = sorted(set(self.policies) - set(policies.POLICIES))
        if unknown or not self.policies:
            raise ValueError(f"--policies: unknown {unknown}; valid: {list(policies.POLICIES)}")
        if self.batch_per_device < 1:
            raise ValueError(f"--batch_per_device must be at least 1, got {self.batch_per_device}")
        if self.oracle_images < 0:
            raise ValueError(f"--oracle_images must be 0 (all) or more, got {self.oracle_images}")
        if self.fig2_images < 0:
            raise ValueError(f"--fig2_images must be 0 or more, got {self.fig2_images}")
        self.check_settings(self.steps)
        on_grid = sorted(p for p in self.policies if policies.POLICIES[p].on_grid)
        for settings in self.settings:
            if on_grid and self.steps - 1 > settings.grid**2:
                raise ValueError(
                    f"--steps={self.steps}: a {settings.grid}x{settings.grid} grid has too few "
                    f"points for {on_grid}"
                )


@dataclasses.dataclass(frozen=True)
class ServeConfig(Config):
    """The web page (`experiments.serve`)."""

    setting_flags: ClassVar[tuple[str, ...]] = (
        "grid",
        "mask_rule",
        "heads",
        "eig",
        "nmc_outer",
        "nmc_inner",
        "precision",
        "oracle_chunk",
    )

    exclusive: ClassVar[tuple[tuple[str, str], ...]] = (("images", "dataset"),)

    port: int = field(8080, "Port (0: any free port).")
    host: str = field("127.0.0.1", "Address to listen on.")
    images: str = field("", "A folder of images (no masks) to serve instead of --dataset.")
    workdir: str = field(
        "workspace/annotations", "Saved objects, uploads and the embedding cache (one server)."
    )
    embedding_cache_mb: int = field(
        1024, "Disk space for cached image embeddings, in MiB (0: no disk cache)."
    )
    max_upload_mb: int = field(32, "Largest image file the page accepts for upload, in MiB.")

    def check(self) -> None:
        super().check()
        self.check_settings(steps=1)
        twice = sorted({m for m in self.models if self.models.count(m) > 1})
        if twice:
            raise ValueError(f"--models: {twice} named twice (the page tells models by name)")
        check_directory("workdir", self.workdir)
        if self.embedding_cache_mb < 0:
            raise ValueError(f"--embedding_cache_mb: 0 or more, got {self.embedding_cache_mb}")
        if self.max_upload_mb < 1:
            raise ValueError(f"--max_upload_mb: at least 1, got {self.max_upload_mb}")


@dataclasses.dataclass(frozen=True)
class ReportConfig(Script, ReportOptions):
    """The report again (`experiments.report`)."""

    workdir: str = field("workspace/eig_vs_oracle", "The study's output directory.")

    def check(self) -> None:
        self.check_report()
        check_directory("workdir", self.workdir)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(Script):
    """Point fine-tuning (`experiments.finetune`): SAM's interactive recipe on a frozen
    image encoder."""

    model: str = field("litemedsam", "The model to fine-tune.")
    params: str = field("", "Its converted params directory ('' for a bundled model).")
    dataset: str = field(
        "offline",
        "offline (MNI152 slices and DSB 2018 nuclei, built on first use; the bundled "
        "samples' slices and crop held out) | sa_med2d:ROOT | folder:ROOT | "
        "coco:ANNOTATIONS:IMAGES",
    )
    sub_datasets: tuple[str, ...] = field((), "SA-Med2D sub-datasets (e.g. FLARE,ACDC).")
    labels: tuple[str, ...] = field((), "SA-Med2D label names (e.g. liver,aorta).")
    categories: tuple[str, ...] = field(("person",), "COCO category names.")
    num_images: int = field(0, "Masks to train on; 0 = all.")
    workdir: str = field("workspace/finetune", "Output: params/, log.csv, checkpoints/.")
    cache_dir: str = field(
        "workspace/cache", "Embeddings (by model weights and image) and the built training set."
    )
    steps: int = field(300, "Optimiser steps.")
    batch_size: int = field(4, "Masks per step (a multiple of the device count).")
    learning_rate: float = field(1e-3, "Peak learning rate (warm-up, then cosine decay).")
    seed: int = field(0, "Seed of the data order, the prompts and the clicks.")
    train: str = field("decoder", "decoder | decoder+prompt (the image encoder stays frozen).")
    correction_clicks: int = field(7, "Clicks from the error region after the first prompt.")
    refinement_rounds: int = field(
        2, "Steps with no new click, the mask fed back only (SAM: one among the clicks, one last)."
    )
    p_click_from_gt: float = field(
        0.1, "A correction click's chance to come from the ground truth (SAM 2: 0.1)."
    )
    iou_loss: str = field("l1", "The IoU head's loss: l1 (SAM 2.1) | mse.")
    p_box: float = field(0.5, "Probability that a step's first prompt is the box, not a click.")
    checkpoint_every: int = field(50, "Steps between checkpoints (resumable).")
    snapshot_steps: tuple[int, ...] = field(
        (), "Steps after which the model is also written to WORKDIR/params_at/STEP/."
    )
    overwrite: bool = field(False, "Replace a finished run in --workdir.")

    def check(self) -> None:
        from eigjax.training import losses, step

        if self.model not in CONFIGS:
            raise ValueError(f"--model: unknown {self.model!r}; valid: {sorted(CONFIGS)}")
        if CONFIGS[self.model].mask_decoder.num_multimask_outputs < 2:
            raise ValueError(
                f"--model={self.model}: has no multimask heads (the click loss takes the best "
                "of them)"
            )
        check_directory("workdir", self.workdir)
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be 1 or more, got {getattr(self, name)}")
        if bad := [s for s in self.snapshot_steps if not 0 < s <= self.steps]:
            raise ValueError(f"--snapshot_steps: {bad} outside 1..--steps={self.steps}")
        for name in ("num_images", "correction_clicks", "refinement_rounds", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be 0 or more, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be positive, got {self.learning_rate}")
        for name in ("p_box", "p_click_from_gt"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name} must be in [0, 1], got {getattr(self, name)}")
        if self.iou_loss not in losses.IOU_LOSSES:
            raise ValueError(
                f"--iou_loss: {self.iou_loss!r} is not one of {list(losses.IOU_LOSSES)}"
            )
        if self.train not in step.TRAINABLE:
            raise ValueError(f"--train: {self.train!r} is not one of {list(step.TRAINABLE)}")


def sweep(base: protocol.Settings, values: dict[str, tuple]) -> tuple[protocol.Settings, ...]:
    """Every combination of `values` ({field: (value, ...)}) applied to `base`."""
    names = sorted(values)
    return tuple(
        dataclasses.replace(base, **dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(values[n] for n in names))
    )
