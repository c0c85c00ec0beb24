"""The web page's settings (`eigjax-web`), on the shared base
(`experiments/config.py`). The page takes one value per protocol setting."""

import dataclasses
from typing import ClassVar

from experiments.config import Config, check_directory, field
from experiments.web import classes


@dataclasses.dataclass(frozen=True)
class ServeConfig(Config):
    """The web page (`eigjax-web`)."""

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
        "workspace/web", "Saved objects, uploads and the embedding cache (one server)."
    )
    embedding_cache_mb: int = field(
        1024, "Disk space for cached image embeddings, in MiB (0: no disk cache)."
    )
    max_upload_mb: int = field(32, "Largest image file the page accepts for upload, in MiB.")
    classes: tuple[str, ...] = field(
        (),
        "Object classes, NAME,NAME,… or a file with one per line: labels are chosen from "
        "them (keys 1–9) and export with these category ids, in this order. Empty: free labels.",
    )

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
        classes.parse(self.classes)
