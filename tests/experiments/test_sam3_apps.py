"""SAM 3 through the apps, on a converted seeded checkpoint (`sam3_reduced`: SAM 3's code and
heads at 1008 px, its trunk cut to 2 blocks): the study with every policy, its report's
IoU calibration, `predict`, and the page with its Oracle."""

import csv
import json
import os

import numpy as np
import pytest
import torch

import weights_convert
from eigjax import clicks, models, protocol
from experiments.web import api
from experiments.web.catalog import Catalog
from references import sam3 as ref
from tests.experiments.web.test_web import BRAIN, call, start, truths
from tests.helpers import run_module


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sam3")
    net = ref.build(seed=7, trunk=ref.REDUCED, text_layers=1)
    torch.save(ref.checkpoint_dict(net), tmp / "sam3.pt")
    out = str(tmp / "params")
    weights_convert.convert("sam3_reduced", str(tmp / "sam3.pt"), out)  # The CLI's: test_sam3.
    return out


@pytest.mark.slow
def test_the_study_runs_on_sam3_and_reports_its_iou_head(params, tmp_path):
    work = tmp_path / "study"
    proc = run_module(
        "experiments.study",
        "--models=sam3_reduced",
        f"--params={params}",
        "--num_images=1",
        "--steps=2",
        "--grid=4",
        "--policies=eig,oracle,random",
        f"--workdir={work}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = work / "records" / "process_000.jsonl"
    recs = [json.loads(line) for line in open(path) if line.strip()]
    assert {r["policy"] for r in recs} == {"eig", "oracle", "random"}
    for r in recs:
        assert len(r["iou_pred"]) == 2 and all(len(step) == 4 for step in r["iou_pred"])
        assert all(v is not None for v in r["object_score"])  # SAM 3's head: recorded.
        pred, error = np.array(r["iou_pred"]), np.array(r["iou_pred_error"])
        assert np.all((pred - error >= -1e-6) & (pred - error <= 1 + 1e-6))  # A true IoU.
    with open(work / "report" / "iou_calibration.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["run"].startswith("sam3_reduced") and int(row["steps"]) == 2 * len(recs)
    assert 0 <= float(row["picks best"]) <= 1 and float(row["IoU lost"]) >= 0
    assert (work / "report" / "iou_calibration.md").read_text().count("|") > 10


@pytest.mark.slow
def test_predict_runs_on_sam3_and_prints_its_object_score(params, tmp_path):
    image = os.path.join(os.path.dirname(models.__file__), "..", "samples", "images")
    first = sorted(os.listdir(image))[0]
    proc = run_module(
        "experiments.predict",
        "--model=sam3_reduced",
        f"--params={params}",
        f"--image={os.path.join(image, first)}",
        "--points=100:120:1",
        f"--output={tmp_path / 'out'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "object score" in proc.stdout and (tmp_path / "out" / "mask.png").exists()


@pytest.mark.slow
def test_the_page_serves_sam3_with_its_oracle(params, tmp_path):
    model = models.load("sam3_reduced", params)
    settings = protocol.Settings(grid=4, oracle_chunk=protocol.CPU_CHUNK)
    service = api.Service({"sam3_reduced": model}, Catalog.from_dataset("bundled"), settings)
    base, server = start(service, tmp_path)
    try:
        gt = truths()[0][1]
        x, y = clicks.first_click(gt)
        body = {"image": BRAIN, "clicks": [[x, y, 1]]}
        status, r = call(base, "/api/predict", {**body, "box": None})
        assert status == 200, r
        assert len(r["iou"]) == 4 and r["model"] == "sam3_reduced"
        assert isinstance(r["object_score"], float)
        status, r = call(base, "/api/oracle", body)
        assert status == 200 and len(r["click"]) == 3, r
    finally:
        server.shutdown()
        server.labelling.store.close()
