"""Every entry of the report's tables recomputed from the JSONL records it reads (records
made here with known numbers), and the report's options as flags."""

import csv
import os

import numpy as np
import pytest

from eigjax import protocol
from eigjax.protocol.fields import FIELDS, NMC_BUDGETS, width
from experiments.study import records, summarize, tables, view
from experiments.study.config import ReportOptions
from tests.helpers import run_module

STEPS = 4


def _record(rng, policy: str) -> protocol.Record:
    """A record with random per-step values of every field (NaN where a field has none)."""
    values = {}
    for f in FIELDS:
        shape = (STEPS, *width(f, 4))
        v = rng.random(shape)
        if f.name.startswith("eig_") and policy != "oracle":
            v[:] = np.nan  # Only the Oracle searches.
        v[0] = np.nan if f.name not in ("dice", "iou", "head_hist") else v[0]
        values[f.name] = v
    clicks = rng.integers(0, 50, (STEPS, 3))
    return protocol.Record(policy, clicks, None, values, 0.1, 0.2 if policy == "oracle" else np.nan)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Two runs, two groups, EIG-guided and Oracle on the same images."""
    root = tmp_path_factory.mktemp("report")
    store = records.RecordStore(str(root), 0)
    rng = np.random.default_rng(0)
    for model in ("model_a", "model_b"):
        spec = {"model": model, "steps": STEPS, "dataset": {"kind": "folder", "paths": ["/d"]}}
        run = store.register_run({**spec, "format": records.FORMAT})
        for group in ("g1", "g2"):
            for i in range(5):
                for policy in ("eig", "oracle"):
                    line = {
                        "run": run,
                        "policy": policy,
                        "image_id": f"{group}_{i}",
                        "group": group,
                    }
                    store.add({**line, **_record(rng, policy).to_json()})
    store.close()
    return root


def _table(path: str) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _by_key(root, run_label, group, policy):
    runs = records.load_runs(str(root))
    labels = view.run_labels(runs)
    recs = [
        r
        for r in records.load_records(str(root))
        if labels[r["run"]] == run_label and r["group"] == group and r["policy"] == policy
    ]
    return recs


def test_each_table_entry_is_recomputed_from_the_records(workdir):
    out = summarize.write_report(str(workdir))
    summary = _table(os.path.join(out, "summary.csv"))
    ranking = _table(os.path.join(out, "eig_ranking.csv"))
    plausible = _table(os.path.join(out, "plausibility.csv"))
    assert len(summary) == 8 and len(ranking) == 4 and len(plausible) == 8  # No EIG rows.
    for row in summary + ranking + plausible:
        recs = _by_key(workdir, row["run"], row["group"], row["policy"])
        assert int(row["images"]) == len(recs) == 5
        for f in FIELDS:
            if f.title not in row:
                continue
            per_image = [
                (
                    np.array(r[f.name], float)[-1]
                    if f.summary == "last"
                    else np.nanmean(np.array(r[f.name], float))
                )
                for r in recs
            ]
            np.testing.assert_allclose(float(row[f.title]), np.mean(per_image), rtol=1e-9)
        for t in (85, 90, 95):
            if f"NoF@{t}" in row:
                assert int(row[f"NoF@{t}"]) == sum(r[f"fail{t}"] for r in recs)
                assert int(row[f"never@{t}"]) == sum(r[f"never{t}"] for r in recs)
                np.testing.assert_allclose(
                    float(row[f"NoC@{t}, ≤ {STEPS} clicks"]), np.mean([r[f"noc{t}"] for r in recs])
                )


def test_paired_differences_head_probabilities_and_the_estimator(workdir):
    out = summarize.write_report(str(workdir))
    for row in _table(os.path.join(out, "paired.csv")):
        eig = {r["image_id"]: r for r in _by_key(workdir, row["run"], row["group"], "eig")}
        oracle = {r["image_id"]: r for r in _by_key(workdir, row["run"], row["group"], "oracle")}
        want = np.mean([eig[i]["dice_auc"] - oracle[i]["dice_auc"] for i in eig])
        np.testing.assert_allclose(float(row["Δ Dice AUC (EIG − Oracle)"]), want, rtol=1e-9)
        want = np.mean([eig[i]["dice"][-1] - oracle[i]["dice"][-1] for i in eig])
        np.testing.assert_allclose(float(row["Δ last Dice (EIG − Oracle)"]), want, rtol=1e-9)
    recs = records.load_records(str(workdir))
    labels = view.run_labels(records.load_runs(str(workdir)))
    for row in _table(os.path.join(out, "head_probs.csv")):
        hists = [h for r in recs if labels[r["run"]] == row["run"] for h in r["head_hist"]]
        np.testing.assert_allclose(
            [float(v) for v in list(row.values())[1:]], np.mean(hists, axis=0)
        )
    rows = _table(os.path.join(out, "estimator.csv"))
    assert len(rows) == 2 * len(NMC_BUDGETS)
    for row in rows:
        b = [f"N={n}, M={m}" for n, m in NMC_BUDGETS].index(row["budget"])
        run = [r for r in recs if labels[r["run"]] == row["run"]]
        errors = np.concatenate([np.array(r["nmc_max_eig_error"], float)[:, b] for r in run])
        errors = errors[~np.isnan(errors)]
        assert int(row["steps"]) == errors.size
        np.testing.assert_allclose(float(row["NMC − exact (bias)"]), errors.mean(), rtol=1e-9)
        np.testing.assert_allclose(float(row["NMC − exact (sd)"]), errors.std(), rtol=1e-9)


def test_eig_vs_random_is_recomputed_from_the_records(tmp_path):
    store = records.RecordStore(str(tmp_path), 0)
    rng = np.random.default_rng(2)
    spec = {"model": "m", "steps": STEPS, "dataset": {"kind": "folder", "paths": ["/d"]}}
    run = store.register_run({**spec, "format": records.FORMAT})
    for i in range(6):
        for policy in ("eig", "random", "oracle"):
            if policy == "oracle" and i == 5:
                continue  # The Oracle on fewer images: the gap is over those it ran.
            line = {"run": run, "policy": policy, "image_id": f"i{i}", "group": "g"}
            rec = _record(rng, policy)
            rec.values["dice"] = rec.dice / 2 + (0.5 if policy == "oracle" else 0)  # A gap.
            store.add({**line, **rec.to_json()})
    store.close()
    out = summarize.write_report(str(tmp_path))
    (row,) = _table(os.path.join(out, "eig_vs_random.csv"))
    by = {p: {r["image_id"]: r for r in _by_key(tmp_path, row["run"], "g", p)} for p in POLICIES}
    ids = sorted(by["eig"])
    diff = [by["eig"][i]["dice_auc"] - by["random"][i]["dice_auc"] for i in ids]
    assert int(row["images"]) == 6 and int(row["images with the Oracle"]) == 5
    np.testing.assert_allclose(float(row["Δ Dice AUC (EIG − random)"]), np.mean(diff))
    lo, hi = (
        float(row["Δ Dice AUC (EIG − random) CI low"]),
        float(row["Δ Dice AUC (EIG − random) CI high"]),
    )
    assert lo <= np.mean(diff) <= hi
    auc = {p: np.array([by[p][i]["dice_auc"] for i in sorted(by["oracle"])]) for p in POLICIES}
    gap = auc["oracle"].mean() - auc["random"].mean()
    assert gap > 0
    want = (auc["eig"].mean() - auc["random"].mean()) / gap
    np.testing.assert_allclose(float(row["random → Oracle gap closed"]), want, rtol=1e-9)
    with open(os.path.join(out, "eig_vs_random.md")) as f:
        assert "Criteria, stated before the numbers" in f.read()


POLICIES = ("eig", "random", "oracle")


def test_the_bootstrap_interval_holds_the_mean_and_is_seeded():
    v = np.random.default_rng(1).random(30)
    mean, lo, hi = tables.mean_ci(v)
    assert lo < mean < hi and (mean, lo, hi) == tables.mean_ci(v)
    assert np.isnan(tables.mean_ci([0.3])[1])


@pytest.mark.slow
def test_report_options_are_flags_checked_at_start(workdir):
    proc = run_module(
        "experiments.study", "--report_only", f"--workdir={workdir}", "--fig1_axis=twin"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_module(
        "experiments.study", "--report_only", f"--workdir={workdir}", "--fig1_axis=left"
    )
    assert proc.returncode != 0 and "--fig1_axis: 'left' is not one of" in proc.stderr
    with pytest.raises(ValueError, match="fig1_axis"):
        ReportOptions(fig1_axis="left").check_report()
