"""The study's records on disk: runs keyed by their settings, one JSONL per process, locks.

  WORKDIR/runs/<run>.json               the full settings of one run, written once; <run>
                                        is the first 12 hex digits of their SHA-256
  WORKDIR/records/process_NNN.jsonl     one line per (run, policy, image), flushed and
                                        fsynced; each process writes only its own file
  WORKDIR/records/process_NNN.lock      held (flock) by the process writing that file

Guarantees:
  - A record belongs to exactly one run, and a run is its settings: resuming continues
    only the same settings; other settings in the same workdir are a new run beside it.
  - A killed writer loses no finished record; a line cut by the kill is dropped when the
    file is next opened for writing. Two writers can never hold one file: the second is
    refused with the first's pid and host. A lock whose process died is free again (the
    kernel releases it), so a stale lock is taken over safely.
  - A malformed line elsewhere (a damaged file) is skipped with a warning naming
    `file:line`; every other record is kept, nothing is rewritten.
"""

import glob
import hashlib
import json
import math
import os
import warnings

from eigjax import metrics
from eigjax.protocol import FIELDS
from experiments import files

KEY = ("run", "policy", "image_id")
FORMAT = 4  # A run's record format (`runs/<id>.json`); bumped when a record's fields change.


def run_id(spec: dict) -> str:
    """The id of the run `spec` describes (its settings as canonical JSON, hashed)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_record(record) -> None:
    """Raises ValueError naming the first field of a record line that is missing or of the
    wrong type: what a hand edit or a partial write leaves. A skipped image's line holds
    only its key, group and reason."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    for k in (*KEY, "group"):
        if not isinstance(record.get(k), str):
            raise ValueError(f"{k}: missing or not text")
    if "skipped" in record:
        return
    clicks = record.get("clicks")
    if not isinstance(clicks, list) or not clicks or not all(_ints(c, 3) for c in clicks):
        raise ValueError("clicks: expected a list of [x, y, label] integers")
    for f in FIELDS:
        values = record.get(f.name)
        ok = isinstance(values, list) and len(values) == len(clicks)
        if not ok or not all(_numbers(v, -1 if f.per_token else f.bins) for v in values):
            raise ValueError(f"{f.name}: expected {len(clicks)} numbers (or null)")
    box_start = record.get("box") is not None  # Its box is no click: NoC may be 0.
    low, high = (0, len(clicks) - 1) if box_start else (1, len(clicks))
    for t in metrics.NOC_THRESHOLDS:
        t = round(t * 100)
        if not (_int(record.get(f"noc{t}")) and low <= record[f"noc{t}"] <= high):
            raise ValueError(f"noc{t}: expected a click count {low} … {high}")
        for k in (f"fail{t}", f"never{t}"):
            if not isinstance(record.get(k), bool):
                raise ValueError(f"{k}: expected true or false")
    for k in ("dice_auc", "seconds_per_click"):
        if not _number(record.get(k)):
            raise ValueError(f"{k}: expected a number")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(_int(x) for x in v)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(v, bins: int) -> bool:
    """A step's value: a number or null, or `bins` of them (-1: one or more)."""
    if bins:
        size = len(v) == bins if bins > 0 else len(v) > 0 if isinstance(v, list) else False
        return isinstance(v, list) and size and all(x is None or _number(x) for x in v)
    return v is None or _number(v)


def _read_lines(path: str):
    """(line number, record) of each well-formed complete line; warns about the others
    (`file:line` and the field at fault)."""
    with open(path, "rb") as f:
        data = f.read()
    # The last piece is empty after a final newline, or a line cut by a kill: no record.
    for number, raw in enumerate(data.split(b"\n")[:-1], 1):
        try:
            record = json.loads(raw)
            check_record(record)
        except (ValueError, RecursionError) as e:
            warnings.warn(f"{path}:{number}: malformed record skipped ({e})", stacklevel=2)
            continue
        yield number, record


def load_records(workdir: str) -> list[dict]:
    """All complete records of the workdir's processes, one per (run, policy, image);
    records of runs an older eigjax wrote (another record format) are left out, with one
    warning per run. Only `process_*.jsonl` files are read (never a `.tmp`)."""
    formats = {rid: spec.get("format") for rid, spec in load_runs(workdir).items()}
    merged, older = {}, set()
    for path in sorted(glob.glob(os.path.join(workdir, "records", "process_*.jsonl"))):
        for _, record in _read_lines(path):
            if formats.get(record["run"], FORMAT) != FORMAT:
                older.add(record["run"])
                continue
            merged[tuple(record[k] for k in KEY)] = record
    for rid in sorted(older):
        warnings.warn(
            f"{workdir}: run {rid} was written by an older eigjax (record format "
            f"{formats[rid]}, now {FORMAT}): left out; rerun it",
            stacklevel=2,
        )
    return [merged[k] for k in sorted(merged)]


def load_runs(workdir: str) -> dict[str, dict]:
    """{run id: settings} of every run written to the workdir."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(workdir, "runs", "*.json"))):
        try:
            with open(path) as f:
                runs[os.path.basename(path)[:-5]] = json.load(f)
        except (OSError, ValueError) as e:
            warnings.warn(f"{path}: unreadable run settings skipped ({e})", stacklevel=2)
    return runs


class RecordStore:
    """This process's records file (locked while open) and the keys any process finished."""

    def __init__(self, workdir: str, process_index: int):
        self.workdir = workdir
        self.dir = os.path.join(workdir, "records")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.join(workdir, "runs"), exist_ok=True)
        self.path = os.path.join(self.dir, f"process_{process_index:03d}.jsonl")
        self._lock = files.lock(
            self.path[: -len(".jsonl")] + ".lock", f"{workdir}: its records are"
        )
        self._drop_cut_line()
        self.done = {tuple(r[k] for k in KEY) for r in load_records(workdir)}

    def close(self) -> None:
        """Releases the lock (also released when the process ends, however it ends)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _drop_cut_line(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):  # Killed mid-write: keep whole lines only.
            with files.atomic(self.path) as tmp, open(tmp, "wb") as f:
                f.write(data[: data.rfind(b"\n") + 1])

    def register_run(self, spec: dict) -> str:
        """Writes `runs/<id>.json` once and returns the run's id."""
        rid = run_id(spec)
        path = os.path.join(self.workdir, "runs", f"{rid}.json")
        if not os.path.exists(path):
            files.write_json(path, spec, sort_keys=True)
        return rid

    def add(self, record: dict) -> None:
        key = tuple(record[k] for k in KEY)
        if key in self.done:
            return
        line = json.dumps(record, allow_nan=False)  # NaN or ±Infinity is a bug, not JSON.
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.add(key)
