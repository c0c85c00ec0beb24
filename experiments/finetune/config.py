"""The fine-tune's settings (`eigjax-finetune`), on the shared base
(`experiments/config.py`)."""

import dataclasses

from eigjax.models import CONFIGS
from experiments.config import Script, check_directory, field


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(Script):
    """Point fine-tuning (`eigjax-finetune`): SAM's interactive recipe on a frozen
    image encoder."""

    model: str = field("litemedsam", "The model to fine-tune.")
    params: str = field(
        "",
        "Its converted params directory ('': the cached conversion, fetched on first use).",
    )
    dataset: str = field(
        "offline",
        "offline (MNI152 slices and DSB 2018 nuclei, built on first use; the bundled "
        "samples' slices and crop held out) | any --dataset of the study "
        "(eigjax/data/spec.py: sa_med2d:, folder:, coco:, nifti:, tfds:NAME[:SPLIT])",
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
