"""The web page's model service, apart from HTTP: typed requests in (`messages.PromptRequest`),
JSON-ready dicts or `ApiError` out.

  POST /api/predict  {"image", "model"?, "clicks": [[x, y, label], …], "box"?, "mask_rule"?,
                     "strokes"?, "truth"?} → the proposed mask (the model's, then the brush and
                     eraser strokes, `strokes.py`) as COCO RLE, predicted IoUs, the EIG
                     map (levels 0–255 of 0…eig_scale[1] as a gray PNG, at most EIG_SIDE
                     pixels on its longest side) and the suggested click: compact at any
                     image size
  POST /api/oracle   the same request, "job"? → the Oracle's next click (needs a ground
                     truth); its candidates run in about ORACLE_PARTS parts, and between
                     two a job is counted and may be stopped:
  GET /api/oracle?job=ID   → {"job", "done", "total"}: candidates tried of the grid's
  DELETE /api/oracle {"job"}  cancels it: its POST answers 409

An image's ground truths (`truths` in GET /api/images) are its masks: a request's
`truth` (default 0) is the one its Dice, its suggestion's answer and its Oracle score.

Every request carries its whole prompt (clicks, box): the prompts are the client's, so
clients never see each other's (saved objects are `labelling.py`'s). JAX work
holds one lock per model (one computation at a time per model); embeddings are computed
once per (model, image) and kept in a small LRU cache, and on disk when the service is
given an `EmbeddingCache`.
"""

import base64
import collections
import dataclasses
import io
import math
import re
import threading
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from PIL import Image

from eigjax import clicks as click_rules
from eigjax import feedback, metrics, protocol
from eigjax.assess import Problem
from eigjax.models import families
from eigjax.models.model import Embedding, Model
from eigjax.protocol.settings import MASK_RULES
from experiments import rle
from experiments.embedding_cache import EmbeddingCache, image_hash, model_key
from experiments.web import strokes as strokes_lib
from experiments.web.catalog import Catalog, Entry
from experiments.web.messages import ApiError, OracleRun, PromptRequest, short

MAX_CLICKS = 100
COLORMAP = "magma"
EIG_SIDE = 1024  # The EIG map's longest side as sent: the page's display, not the image's.
EMBEDDINGS_CACHED = 16
ORACLE_PARTS = 20  # The Oracle's progress steps: each part's candidates a multiple of its chunk.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def png_bytes(array: np.ndarray) -> bytes:
    """uint8 [H, W] or [H, W, 3|4] → PNG (fast compression: it is sent at once)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_base64(array: np.ndarray) -> str:
    return base64.b64encode(png_bytes(array)).decode("ascii")


def colormap_lut(name: str = COLORMAP) -> np.ndarray:
    """uint8 [256, 3]: the colour map's RGB table."""
    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def eig_levels(eig_map: np.ndarray, top: float, side: int) -> np.ndarray:
    """float [H, W] EIG → uint8 [h, w]: 0…`top` as 0…255, area-averaged to at most `side`
    pixels on the longest side (the page colours it with the colour map of /api/config)."""
    height, width = eig_map.shape
    shrink = min(1.0, side / max(height, width))
    if shrink < 1:
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        eig_map = np.asarray(Image.fromarray(eig_map, "F").resize(size, Image.BOX))
    v = np.clip(eig_map / top, 0.0, 1.0) if top > 0 else np.zeros_like(eig_map)
    return np.round(v * 255).astype(np.uint8)


def outline_rgba(mask: np.ndarray, colour=(0, 255, 255)) -> np.ndarray:
    """bool [H, W] → uint8 [H, W, 4]: the mask's boundary pixels (a 4-neighbour outside
    the mask or the image) opaque, the rest clear."""
    p = np.pad(mask, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    edge = mask & ~inner
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[edge] = (*colour, 255)
    return rgba


@dataclasses.dataclass(frozen=True)
class Request:
    """A prompt resolved against the served images and models."""

    entry: Entry
    model: str
    clicks: np.ndarray  # float [N, 3] (x, y, label)
    box: np.ndarray | None  # float [4]
    settings: protocol.Settings
    strokes: tuple[strokes_lib.Stroke, ...] = ()


class Prepared(NamedTuple):
    """A request with its image as the file is now."""

    request: Request
    image: np.ndarray  # [H, W, ...]
    mask: np.ndarray | None  # bool [H, W]: the ground truth, if any
    grid: np.ndarray  # int [G, 2]
    clicked: np.ndarray  # bool [G]: grid points the prompt clicks


class Answered(NamedTuple):
    """A request and the model's answer (`feedback.Feedback`, on the host)."""

    request: Request
    image: np.ndarray  # The pixels answered on, as the file held them.
    mask: np.ndarray | None
    grid: np.ndarray
    clicked: np.ndarray
    feedback: feedback.Feedback


def oracle_part(total: int, chunk: int) -> int:
    """Candidates per part of an Oracle over `total`: about total / ORACLE_PARTS, a
    multiple of `chunk` (the parts run as the whole does, `chunk` at a time)."""
    return chunk * max(1, math.ceil(total / ORACLE_PARTS / chunk))


@dataclasses.dataclass
class OracleJob:
    """A running Oracle's count of candidates tried, and its cancel flag."""

    total: int
    done: int = 0
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)


# Image sizes whose compiled programs are kept (each size compiles its own, about 290
# memory maps); one more, and every program is dropped (`protocol.free_programs`).
MAX_SIZES = 64


class Service:
    """The API over loaded models and a catalog of images."""

    def __init__(
        self,
        models: dict[str, Model],
        catalog: Catalog,
        settings: protocol.Settings,
        fingerprints: dict[str, str] | None = None,
        cache: EmbeddingCache | None = None,
        max_sizes: int = MAX_SIZES,
    ):
        """`fingerprints`: each model's weights fingerprint (`checkpoint.fingerprint`), which
        keys its embeddings in the on-disk `cache` (a model without one is not cached);
        `max_sizes`: image sizes compiled for before every program is dropped."""
        self.models = models
        self.fingerprints = fingerprints or {}
        self.cache = cache
        self.catalog = catalog
        self.settings = settings
        self.lut = colormap_lut()
        self._locks = {name: threading.Lock() for name in models}
        self._embeddings: collections.OrderedDict = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._oracle_chunk = 0  # Chosen at the first Oracle request (protocol.oracle_chunk).
        self._jobs: dict[str, OracleJob] = {}
        self._jobs_lock = threading.Lock()
        self.max_sizes = max_sizes
        self._sizes: set[tuple[int, int]] = set()  # Compiled for since the last drop.
        self._sizes_lock = threading.Lock()
        self._decoders = {  # Network and params as `settings.precision` computes.
            name: m.at_precision(settings.precision) for name, m in models.items()
        }

    # Reads.
    def images(self) -> list[dict]:
        return [e.describe() for e in self.catalog.entries.values()]

    def config(self) -> dict:
        """What the page needs to start: model names, defaults, the EIG colour map."""
        return {
            "models": list(self.models),
            "grid": self.settings.grid,
            "mask_rule": self.settings.mask_rule,
            "mask_rules": MASK_RULES,
            "colormap": self.lut.tolist(),
        }

    def image_png(self, name) -> bytes:
        return png_bytes(self.entry(name).load()[0])

    def outline_png(self, name, truth="0") -> bytes:
        """GET /api/outline?name=NAME[&truth=K]: ground truth K's outline."""
        entry = self.entry(name)
        if not entry.has_mask:
            raise ApiError(404, f"image {name!r} has no ground-truth mask")
        k = int(truth) if isinstance(truth, str) and truth.isdigit() else truth
        return png_bytes(outline_rgba(entry.load(_truth(entry, k))[1]))

    # Computations.
    def predict(self, prompt: PromptRequest) -> dict:
        start = time.perf_counter()
        req, _, mask, grid, clicked, fb = self.feedback(prompt)
        eig_map = np.asarray(fb.eig_map, np.float32)
        top = float(eig_map.max())
        has_gt = mask is not None
        x, y = grid[int(fb.suggestion)].tolist()
        suggestion = None if clicked.all() else [x, y]
        return {
            "model": req.model,
            "mask": rle.encode(np.asarray(fb.mask, bool)),
            "iou": [float(v) for v in fb.predicted_iou],
            "token": int(fb.token),
            "eig_max": float(fb.eig_max) if suggestion else 0.0,
            "eig": png_base64(eig_levels(eig_map, top, EIG_SIDE)),
            "eig_scale": [0.0, top],
            "suggestion": suggestion,
            "suggestion_label": int(mask[y, x]) if has_gt and suggestion else None,
            "dice": float(fb.dice) if has_gt else None,
            "gt_iou": float(fb.iou) if has_gt else None,
            "object_score": None if np.isnan(fb.object_score) else float(fb.object_score),
            "ms": (time.perf_counter() - start) * 1e3,
        }

    def feedback(self, prompt: PromptRequest) -> Answered:
        """The model's answer to `prompt`."""
        req, image, mask, grid, clicked = self._prepare(prompt)
        self._bound_programs(image.shape[:2])
        gt = np.zeros(image.shape[:2], bool) if mask is None else mask
        with self._locks[req.model]:
            problem = self._problem(req, image, gt, mask)
            given = feedback.prompt_of(req.clicks, req.box)
            fb = feedback.feedback(problem, given, jnp.asarray(clicked), settings=req.settings)
            fb = jax.device_get(fb)
        if req.strokes:
            fb = _edited(fb, strokes_lib.apply(np.asarray(fb.mask), req.strokes), mask)
        return Answered(req, image, mask, grid, clicked, fb)

    def oracle(self, run: OracleRun) -> dict:
        start = time.perf_counter()
        req, image, mask, grid, clicked = self._prepare(run)  # An OracleRun is a PromptRequest.
        if mask is None:
            raise ApiError(400, f"image {req.entry.name!r} has no ground truth: no Oracle")
        if clicked.all():
            raise ApiError(400, "every grid point has been clicked")
        job = self._begin(run.job, len(grid))
        try:
            self._bound_programs(image.shape[:2])
            with self._locks[req.model]:
                search = self._search(req, image, mask, clicked, job)
        finally:
            if run.job is not None:
                with self._jobs_lock:
                    del self._jobs[run.job]
        return {
            "model": req.model,
            "click": np.asarray(search.click).tolist(),
            "dice": float(search.dice),
            "ms": (time.perf_counter() - start) * 1e3,
        }

    def _search(self, req: Request, image, mask, clicked, job: OracleJob):
        """The Oracle's step (`protocol.oracle_click`), its candidates in parts, `job`
        counted after each and checked for a cancel before the next (caller holds the
        model's lock)."""
        n = len(req.clicks)
        problem = self._problem(req, image, mask, mask)
        given = feedback.prompt_of(req.clicks, req.box).truncated(n + 1)
        state = protocol.ClickState(given, jnp.asarray(clicked))
        settings = self._oracle_settings(req.settings, problem, state, n)
        size, parts = oracle_part(job.total, settings.oracle_chunk), []
        for first in range(0, job.total, size):
            if job.cancelled.is_set():
                raise ApiError(
                    409, f"the Oracle was cancelled after {first} of {job.total} candidates"
                )
            part = feedback.oracle_dice(
                problem, state, n, capacity=n + 1, settings=settings, first=first, size=size
            )
            parts.append(part.block_until_ready())
            job.done = min(first + size, job.total)
        dice = jnp.concatenate(parts)[: job.total]
        return feedback.oracle_choice(problem, state, dice, settings)

    def _begin(self, job_id, total: int) -> OracleJob:
        """A new job of `total` candidates, kept under `job_id` (not kept: None)."""
        job = OracleJob(total)
        if job_id is None:
            return job
        if not JOB_ID.fullmatch(job_id):
            raise ApiError(400, f"job: 1 to 64 letters, digits, - or _, got {short(job_id)}")
        with self._jobs_lock:
            if job_id in self._jobs:
                raise ApiError(409, f"job {job_id!r} is already running")
            self._jobs[job_id] = job
        return job

    def _job(self, job_id) -> OracleJob:
        with self._jobs_lock:
            if job_id not in self._jobs:
                raise ApiError(404, f"no Oracle running as job {short(job_id)}")
            return self._jobs[job_id]

    def oracle_progress(self, job_id) -> dict:
        """GET /api/oracle?job=ID: the candidates tried so far of the total."""
        job = self._job(job_id)
        return {"job": job_id, "done": job.done, "total": job.total}

    def cancel_oracle(self, job_id) -> dict:
        """DELETE /api/oracle: the job stops before its next part."""
        job = self._job(job_id)
        job.cancelled.set()
        return {"job": job_id, "done": job.done, "total": job.total, "cancelled": True}

    # Helpers.
    def _bound_programs(self, size: tuple[int, int]) -> None:
        """Counts `size` among the image sizes compiled for; past `max_sizes`, drops every
        program while no model computes. Called before taking a model's lock (it takes
        them all, in one order)."""
        with self._sizes_lock:
            if size in self._sizes:
                return
            if len(self._sizes) >= self.max_sizes:
                locks = [self._locks[name] for name in sorted(self._locks)]
                for lock in locks:
                    lock.acquire()
                try:
                    protocol.free_programs()
                finally:
                    for lock in locks:
                        lock.release()
                self._sizes.clear()
            self._sizes.add(tuple(size))

    def _oracle_settings(self, settings, problem, state, slot) -> protocol.Settings:
        """`settings` with the Oracle's chunk chosen by the protocol's rule (once)."""
        if not settings.oracle_chunk:
            if not self._oracle_chunk:

                def lower(probe):
                    return feedback.oracle_click.lower(
                        problem, state, slot, capacity=slot + 1, settings=probe
                    )

                self._oracle_chunk = protocol.oracle_chunk(settings, lower)
            settings = dataclasses.replace(settings, oracle_chunk=self._oracle_chunk)
        return settings

    def _prepare(self, prompt: PromptRequest) -> Prepared:
        """The request of `prompt`, its clicks and box checked against the image as its
        file is now."""
        req = self.resolve(prompt)
        image, mask = req.entry.load(_truth(req.entry, prompt.truth))
        height, width = image.shape[:2]
        clicks = _parse_clicks(prompt.clicks, width, height)
        box = None if prompt.box is None else _parse_box(prompt.box, width, height)
        if len(clicks) == 0 and box is None:
            raise ApiError(400, "give at least one click or a box")
        try:
            strokes = strokes_lib.parse(prompt.strokes, width, height)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        req = dataclasses.replace(req, clicks=clicks, box=box, strokes=strokes)
        grid = click_rules.grid_points(height, width, req.settings.grid)
        return Prepared(req, image, mask, grid, feedback.clicked_on_grid(grid, clicks))

    def entry(self, name) -> Entry:
        """The served image `name`; ApiError 400 for a path, 404 for an unknown name."""
        if not isinstance(name, str):
            raise ApiError(400, f"image: expected a name from GET /api/images, got {short(name)}")
        if ("/" in name or "\\" in name or ".." in name) and name not in self.catalog.entries:
            raise ApiError(400, f"image {short(name)}: a name from GET /api/images, not a path")
        try:
            return self.catalog.get(name)
        except KeyError as e:
            raise ApiError(404, e.args[0]) from None

    def _problem(self, req: Request, image: np.ndarray, gt: np.ndarray, mask) -> Problem:
        """The request's model, at the served precision, on the image, scored against `gt`;
        `mask` is the image's ground truth or None (caller holds the model's lock)."""
        network, params = self._decoders[req.model]
        return Problem(network, params, self._embedding(req, image, mask), jnp.asarray(gt))

    def _embedding(self, req: Request, image: np.ndarray, mask) -> Embedding:
        """The image's embedding under `req.model`, computed once per content (its pixels'
        hash: a replaced file is embedded again, whatever its size and time), from memory,
        else from the disk cache, else from the encoder (caller holds the model's lock).
        The calibrated control is built from `mask`: a 400 without one."""
        model, fingerprint = self.models[req.model], self.fingerprints.get(req.model)
        control = families.family(model.config).needs_ground_truth
        truth = image_hash(mask) if control and mask is not None else None
        key = (req.model, image_hash(image), truth)
        with self._cache_lock:
            if key in self._embeddings:
                self._embeddings.move_to_end(key)
                return self._embeddings[key]
        if control:
            if mask is None:
                raise ApiError(
                    400,
                    f"{req.model} is a control built from the ground truth; image "
                    f"{req.entry.name!r} has none",
                )
            emb = model.embed(image, mask)
        elif self.cache is not None and fingerprint:
            emb = self.cache.embedding(model_key(req.model, fingerprint), model, image)
        else:
            emb = model.embed(image)
        with self._cache_lock:
            self._embeddings[key] = emb
            while len(self._embeddings) > EMBEDDINGS_CACHED:
                self._embeddings.popitem(last=False)
        return emb

    def resolve(self, prompt: PromptRequest) -> Request:
        """`prompt` → `Request` without its clicks and box (`_prepare` reads them against
        the image); ApiError 404 for an image or a model not served, 400 for a mask rule
        that is none."""
        entry = self.entry(prompt.image)
        model = prompt.model or next(iter(self.models))
        if model not in self.models:
            raise ApiError(404, f"unknown model {short(model)}; served: {list(self.models)}")
        settings = self.settings
        if prompt.mask_rule is not None:
            if prompt.mask_rule not in MASK_RULES:
                got = short(prompt.mask_rule)
                raise ApiError(400, f"mask_rule: one of {list(MASK_RULES)}, got {got}")
            settings = dataclasses.replace(settings, mask_rule=prompt.mask_rule)
        resolved = settings.resolved(self.models[model].config)
        return Request(entry, model, np.zeros((0, 3)), None, resolved)


def _edited(fb: feedback.Feedback, mask: np.ndarray, gt: np.ndarray | None) -> feedback.Feedback:
    """`fb` with its mask replaced by the hand-edited `mask`, Dice and IoU against `gt`
    (if any) recomputed; the model's predicted IoUs and EIG are the model's mask's."""
    if gt is None:
        return fb.replace(mask=mask)
    dice, iou = jax.device_get(metrics.dice_iou(jnp.asarray(mask), jnp.asarray(gt)))
    return fb.replace(mask=mask, dice=dice, iou=iou)


MAX_COORDINATE = 1e9  # Beyond any image: a number this large is a mistake, not a pixel.


def _truth(entry: Entry, k) -> int:
    """`k` as an index into `entry`'s ground truths (0 where it has none); ApiError 400
    otherwise."""
    n = len(entry.truths)
    if type(k) is not int or not (0 <= k < n or k == 0):
        raise ApiError(
            400, f"truth: an index below {max(n, 1)} (the image's truths), got {short(k)}"
        )
    return k


def _number(value, where: str) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not abs(value) <= MAX_COORDINATE:  # Also False for NaN.
        raise ApiError(400, f"{where}: expected a finite number, got {short(value)}")
    return float(value)


def _parse_clicks(clicks, width: int, height: int) -> np.ndarray:
    """Clicks [[x, y, label], …] (a list, `messages.parse` checked) → float [N, 3]."""
    if len(clicks) > MAX_CLICKS:
        raise ApiError(400, f"clicks: at most {MAX_CLICKS}, got {len(clicks)}")
    out = np.zeros((len(clicks), 3))
    for i, c in enumerate(clicks):
        if not isinstance(c, list) or len(c) != 3:
            raise ApiError(400, f"clicks[{i}]: expected [x, y, label], got {short(c)}")
        x, y = _number(c[0], f"clicks[{i}][0] (x)"), _number(c[1], f"clicks[{i}][1] (y)")
        if not (0 <= x < width and 0 <= y < height):
            raise ApiError(400, f"clicks[{i}]: ({x:g}, {y:g}) outside the {width}×{height} image")
        if isinstance(c[2], bool) or not isinstance(c[2], int) or c[2] not in (0, 1):
            raise ApiError(
                400, f"clicks[{i}][2] (label): 1 positive or 0 negative, got {short(c[2])}"
            )
        out[i] = x, y, c[2]
    return out


def _parse_box(box, width: int, height: int) -> np.ndarray:
    if not isinstance(box, list) or len(box) != 4:
        raise ApiError(400, f"box: expected [x0, y0, x1, y1] or null, got {short(box)}")
    x0, y0, x1, y1 = (_number(v, f"box[{i}]") for i, v in enumerate(box))
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise ApiError(
            400,
            f"box: expected 0 <= x0 <= x1 <= {width} and 0 <= y0 <= y1 <= {height}, "
            f"got {short(box)}",
        )
    return np.array([x0, y0, x1, y1], np.float32)
