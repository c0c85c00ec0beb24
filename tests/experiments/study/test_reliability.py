"""Nothing silently wrong: runs keyed by their settings, records that survive damage and a
second writer, flags checked at start (the cases of the reliability issue, one test each)."""

import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from eigjax import protocol
from experiments import files
from experiments.study import records, run, summarize
from experiments.study.config import StudyConfig
from tests.helpers import run_module

QUICK = StudyConfig(policies=("eig", "error_center"), steps=2, fig2_images=0, report=False)
QUICK = dataclasses.replace(QUICK, settings=(protocol.Settings(grid=4),))


def _pairs(root, names=("a", "b")):
    """A folder dataset of small real-looking pairs: ROOT/images/x.png, ROOT/masks/x.png."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(len(names))
    for i, name in enumerate(names):
        img = (rng.random((48, 64)) * 255).astype(np.uint8)
        m = np.zeros((48, 64), np.uint8)
        m[10 + i : 30, 15:40] = 255
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    return root


def _cfg(workdir, root, **changes):
    settings = changes.pop("settings", QUICK.settings)
    return dataclasses.replace(
        QUICK, dataset=f"folder:{root}", workdir=str(workdir), settings=settings, **changes
    )


def _lines(workdir):
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, "records", "*.jsonl"))):
        out += [json.loads(line) for line in open(path)]
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rel")
    root = _pairs(tmp / "data" / "pairs")
    workdir = tmp / "w"
    run.run_study(_cfg(workdir, root))
    return root, workdir


@pytest.mark.slow
def test_other_settings_in_the_same_workdir_are_a_new_run_beside_the_old(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    before = _lines(workdir)
    other = (protocol.Settings(grid=6, eig="nmc", heads="all", nmc_outer=16, nmc_inner=4),)
    run.run_study(_cfg(workdir, root, settings=other, seed=5))
    after = _lines(workdir)
    assert after[: len(before)] == before and len(after) == 2 * len(before)
    assert len({r["run"] for r in after}) == 2 and len(os.listdir(workdir / "runs")) == 2
    run.run_study(_cfg(workdir, root, settings=other, seed=5))  # Same settings: nothing new.
    assert len(_lines(workdir)) == len(after)


@pytest.mark.slow
def test_a_folder_with_the_same_base_name_is_another_dataset(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    twin = _pairs(tmp_path / "elsewhere" / "pairs", names=("a", "b"))  # Same ids, same name.
    run.run_study(_cfg(workdir, twin))
    runs = records.load_runs(str(workdir))
    assert len(runs) == 2
    assert {tuple(r["dataset"]["paths"]) for r in runs.values()} == {(str(root),), (str(twin),)}


@pytest.mark.slow
def test_the_report_groups_runs_of_different_settings_and_says_which(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    run.run_study(_cfg(workdir, root, steps=3))
    out = summarize.write_report(str(workdir))
    summary = open(os.path.join(out, "summary.md")).read()
    assert "| litemedsam · steps=2 | folder:pairs | eig | 2 | 2 |" in summary
    assert "| litemedsam · steps=3 | folder:pairs | eig | 2 | 3 |" in summary
    assert "NoC@90 (≤ clicks)" in summary  # Two caps: the column header says so.
    per_step = open(os.path.join(out, "dice_per_step.md")).read().splitlines()
    two = next(line for line in per_step if "steps=2 | folder:pairs | eig" in line)
    assert two.rstrip(" |").endswith("–")  # No step-2 value borrowed from the 3-step run.


@pytest.mark.slow
def test_a_malformed_line_is_skipped_with_its_place_and_loses_nothing(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    path = workdir / "records" / "process_000.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(1, '{"run": "x", "policy": ')  # Damaged in the middle, newline intact.
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"process_000.jsonl:2: malformed record skipped"):
        recs = records.load_records(str(workdir))
    assert len(recs) == len(lines) - 1
    with pytest.warns(UserWarning, match=r"process_000.jsonl:2"):
        summarize.write_report(str(workdir))
        run.run_study(_cfg(workdir, root))  # Resume: everything is already there.
    assert len(path.read_text().splitlines()) == len(lines)  # Nothing rewritten or doubled.


@pytest.mark.slow
def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    holder = records.RecordStore(str(workdir), 0)
    try:
        with pytest.raises(files.WorkdirBusy, match=f'"pid": {os.getpid()}'):
            run.run_study(_cfg(workdir, root))
    finally:
        holder.close()
    # A lock file left by a process that died: its flock went with it.
    (workdir / "records" / "process_000.lock").write_text('{"pid": 999999, "host": "gone"}')
    run.run_study(_cfg(workdir, root))
    lock = json.loads((workdir / "records" / "process_000.lock").read_text())
    assert lock["pid"] == os.getpid()


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag,message",
    [
        ("--grid=0", "--grid must be at least 1"),
        ("--grid=-3", "--grid must be at least 1"),
        ("--steps=-1", "--steps must be at least 1"),
        ("--steps=0", "--steps must be at least 1"),
        ("--start=middle", "--start: 'middle' is not one of"),
        ("--policies=best", "--policies: unknown ['best']"),
    ],
)
def test_bad_flags_fail_at_start_in_one_line(tmp_path, flag, message):
    clock = time.perf_counter()
    proc = run_module("experiments.study", f"--workdir={tmp_path / 'w'}", flag)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and time.perf_counter() - clock < 30
    assert not (tmp_path / "w" / "records").exists()


@pytest.mark.slow
def test_report_of_a_mistyped_workdir_creates_nothing(tmp_path):
    proc = run_module("experiments.study", "--report_only", f"--workdir={tmp_path / 'typo'}")
    assert proc.returncode != 0 and "no records/ here" in proc.stderr
    assert not (tmp_path / "typo").exists()


# Round two (issue 19): ids, lossy masks, hand-edited records, tiny images, user errors.


def test_two_masks_with_one_name_in_two_folders_stop_the_run_naming_both(tmp_path):
    from eigjax.data import DataError
    from eigjax.data import spec as dataset_spec

    root = tmp_path / "sa"
    for sub in ("images", "masks/a", "masks/b"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "images" / "x.png")
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 2:5] = 255
    for sub in ("a", "b"):
        Image.fromarray(m).save(root / "masks" / sub / "x_liver_000.png")
    index = {"images/x.png": ["masks/a/x_liver_000.png", "masks/b/x_liver_000.png"]}
    (root / "image2label_train.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match=r"masks/a/x_liver_000.png and .*masks/b/x_liver_000.png"):
        dataset_spec.index(dataset_spec.parse(f"sa_med2d:{root}"))


def test_a_lossy_mask_is_thresholded_by_the_documented_rule_with_a_warning(tmp_path):
    from eigjax.data import read_mask

    m = np.zeros((64, 64), np.uint8)
    m[16:48, 10:40] = 255
    Image.fromarray(m).save(tmp_path / "m.jpg", quality=30)
    assert (np.asarray(Image.open(tmp_path / "m.jpg")) != 0).sum() > m.astype(bool).sum()  # Noise.
    with pytest.warns(UserWarning, match=r"m.jpg: a JPEG mask is lossy"):
        got = read_mask(str(tmp_path / "m.jpg"))
    assert (got != m.astype(bool)).mean() < 0.01


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda r: r.pop("dice"), "dice"),
        (lambda r: r.update(iou="high"), "iou"),
        (lambda r: r.update(noc90=0), "noc90"),
        (lambda r: r.update(clicks=[[1, 2]]), "clicks"),
        (lambda r: r.update(fail85="no"), "fail85"),
        (lambda r: r.update(group=None), "group"),
    ],
)
def test_a_hand_edited_record_is_skipped_where_it_is_and_redone(first_run, tmp_path, edit, field):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    path = workdir / "records" / "process_000.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    edit(record)
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(
        UserWarning, match=rf"process_000.jsonl:1: malformed record skipped \({field}"
    ):
        assert len(records.load_records(str(workdir))) == len(lines) - 1
    with pytest.warns(UserWarning, match="process_000.jsonl:1"):
        run.run_study(_cfg(workdir, root))  # Redoes it.
    assert len(path.read_text().splitlines()) == len(lines) + 1


@pytest.mark.slow
def test_temporary_files_of_a_killed_write_are_never_read(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    (workdir / "records" / "process_000.jsonl.tmp").write_text('{"run": "x"}\n')
    (workdir / "records" / "process_001.jsonl.tmp-77").write_text("junk\n")
    os.makedirs(workdir / "maps" / "r", exist_ok=True)
    (workdir / "maps" / "r" / "a.npz.tmp-5").write_bytes(b"partial")
    assert records.load_records(str(workdir)) == records.load_records(str(base))
    summarize.write_report(str(workdir))


@pytest.mark.slow
def test_tiny_images_never_repeat_a_pixel_nor_record_infinity(tmp_path):
    root = tmp_path / "tiny"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, shape in (("one", (1, 1)), ("row", (1, 5))):
        Image.fromarray(np.full((*shape, 3), 100, np.uint8)).save(root / "images" / f"{name}.png")
        m = np.zeros(shape, np.uint8)
        m.flat[0] = 255
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    workdir = tmp_path / "w"
    cfg = _cfg(workdir, root, steps=4, policies=("eig", "oracle", "random_error"), fig2_images=2)
    cfg = dataclasses.replace(
        cfg, settings=(protocol.Settings(grid=30, oracle_chunk=4),), report=True
    )
    run.run_study(cfg)
    text = "".join(open(p).read() for p in glob.glob(str(workdir / "records" / "*.jsonl")))
    assert "Infinity" not in text and "NaN" not in text
    for r in _lines(workdir):
        pixels = [tuple(c[:2]) for c in r["clicks"] if c[0] >= 0 and c[2] >= 0]
        assert len(pixels) == len(set(pixels)), r["clicks"]
    assert os.path.getsize(workdir / "report" / "fig2.png") > 1000


def test_an_image_with_no_pixels_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match=r"shape \(0, 0, 3\) has no pixels"):
        protocol.run(tiny_model, np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), bool), "eig")


@pytest.mark.slow
@pytest.mark.parametrize(
    "make, flag, message",
    [
        (
            lambda t: (t / "file").write_text("x"),
            "--workdir={t}/file",
            "is a file, not a directory",
        ),
        (lambda t: None, "--seed=-1", "--seed must be 0 or more"),
    ],
)
def test_a_users_mistake_is_one_line(tmp_path, make, flag, message):
    make(tmp_path)
    args = [f"--workdir={tmp_path / 'w'}", flag.format(t=tmp_path)]
    proc = run_module("experiments.study", *args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-1000:]
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_report_directory_that_is_a_file_is_one_line(first_run, tmp_path):
    _, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    shutil.rmtree(workdir / "report", ignore_errors=True)
    (workdir / "report").write_text("not a directory")
    proc = run_module("experiments.study", "--report_only", f"--workdir={workdir}")
    assert proc.returncode != 0 and "report: File exists" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_full_disk_loses_no_record_written(first_run, tmp_path):
    root, base = first_run
    workdir = tmp_path / "w"
    shutil.copytree(base, workdir)
    store = records.RecordStore(str(workdir), 0)
    before = (workdir / "records" / "process_000.jsonl").read_text()
    os.replace(workdir / "records" / "process_000.jsonl", tmp_path / "kept.jsonl")
    os.symlink("/dev/full", workdir / "records" / "process_000.jsonl")
    line = {"run": "r", "policy": "eig", "image_id": "z", "group": "g", "skipped": "empty mask"}
    with pytest.raises(OSError, match="No space left"):
        store.add(line)
    store.close()
    assert (tmp_path / "kept.jsonl").read_text() == before  # Nothing written was touched.
    from experiments.files import os_error

    try:
        store.add(line)
    except OSError as e:
        assert "\n" not in os_error(e) and "No space left" in os_error(e)


@pytest.mark.slow
def test_ctrl_c_stops_in_one_line_with_every_record_kept(tmp_path):
    workdir = tmp_path / "c"
    cmd = [
        sys.executable,
        "-m",
        "experiments.study",
        f"--workdir={workdir}",
        "--grid=4",
        "--steps=3",
        "--start=center",
        "--policies=eig,error_center",
        "--num_images=6",
        "--fig2_images=0",
        "--nmc_check=false",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = workdir / "records" / "process_000.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (path.exists() and path.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("stopped; every record written is kept")
    assert "Traceback" not in err
    assert all(json.loads(line) for line in path.read_text().splitlines())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_dropped_in_a_finalizer_still_stops_the_run(monkeypatch):
    """Python drops a KeyboardInterrupt raised inside `__del__` ("Exception ignored"): the
    request is remembered, and the study's next `check` raises it."""
    from experiments import interrupts

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)
            for _ in range(1000):  # The handler runs here, inside the finalizer.
                pass

    monkeypatch.setattr(interrupts, "_requested", False)
    previous = signal.getsignal(signal.SIGINT)
    try:
        interrupts.install()
        interrupts.check()  # Nothing asked yet.
        Finalized()  # Dropped at once: the interrupt is raised and swallowed in __del__.
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    finally:
        signal.signal(signal.SIGINT, previous)
