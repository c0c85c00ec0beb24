"""The study's settings (`eigjax-study`; `--report_only` writes the report again), on the
shared base (`experiments/config.py`).

Two sets of study defaults:
  StudyConfig()     a study on your data: the paper's 30x30 grid, 20 clicks (RITM's NoC cap).
  StudyConfig.demo  README's set-up command (1), on the bundled samples (`--dataset`
                    left at `bundled`).
                    `--full_demo`: the box start too, the Oracle on every mask, 5 steps.
                    Any flag you give wins.
"""

import dataclasses
from typing import ClassVar

from eigjax.protocol import policies
from experiments.config import Config, check_directory, field

FIG1_AXES = {
    "shared": "Dice and max EIG on one y-axis, as the paper",
    "twin": "max EIG on a right axis, one scale for every panel",
}


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """How the report draws (the study writes it at its end; `--report_only` again)."""

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
class StudyConfig(Config, ReportOptions):
    """The EIG-vs-Oracle study (`eigjax-study`)."""

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
        0,
        "Masks of each run the Oracle runs on (the first N by index; 0 = all): 900 decodes "
        "per click.",
    )
    full_demo: bool = field(
        False,
        "With the bundled dataset: the larger demo (the box start too, the Oracle on every "
        "mask, 5 steps).",
    )
    seed: int = field(0, "Seed of the random policies, the noisy box and NMC sampling.")
    fig2_images: int = field(
        1, "Masks per run (the first N by index) whose EIG maps and masks are kept for Fig. 2."
    )
    save_masks: bool = field(False, "Keep every step's proposed mask in the records (COCO RLE).")
    batch_per_device: int = field(1, "Images per device in a lockstep batch.")
    distributed: bool = field(False, "Run as one of several processes (jax.distributed).")
    coordinator_address: str = field(
        "", "With --distributed: host:port of process 0's coordinator ('' = detect: SLURM, …)."
    )
    num_processes: int = field(0, "With --distributed: how many processes (0 = detect).")
    process_id: int = field(-1, "With --distributed: this process's index (-1 = detect).")
    workdir: str = field("workspace/study", "Output directory.")
    report: bool = field(True, "Write tables and figures at the end.")
    report_only: bool = field(
        False, "Run nothing: write the report of --workdir's records again (and exit)."
    )

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
