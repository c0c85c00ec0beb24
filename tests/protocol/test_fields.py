"""The per-step fields of issue 17, each recomputed from what the record keeps: EIG as a
ranking of the Oracle's candidates, where clicks lie, the heads' histogram, the NMC check;
the model's own mask rule; SAM-Med2D's clickers in its model's input frame."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage, stats

from eigjax import clicks, protocol
from eigjax.models import Model
from tests.helpers import demo_image, demo_mask

SETTINGS = protocol.Settings(grid=6, oracle_chunk=9, keep_maps=True, keep_masks=True)


@pytest.fixture(scope="module")
def case():
    image = demo_image("s0114_111.png")[:180, :200]
    return image, demo_mask("s0114_111.png", "heart_ventricle_left")[:180, :200]


@pytest.fixture(scope="module")
def oracle(tiny_model, case):
    image, gt = case
    return protocol.run(tiny_model, image, gt, "oracle", 4, 0, SETTINGS)


@pytest.mark.slow
def test_ranking_fields_are_recomputed_from_the_kept_search(oracle, case):
    _, gt = case
    grid = clicks.grid_points(*gt.shape, SETTINGS.grid)
    assert np.isnan(oracle.eig_gain_spearman[0])  # Step 0 searched nothing.
    for s in range(1, 4):
        eig = oracle.eig_maps[s][grid[:, 1], grid[:, 0]]
        gain = oracle.candidate_dice[s] - oracle.dice[s - 1]
        taken = np.array([[(g == c[:2]).all() for c in oracle.clicks[:s]] for g in grid]).any(1)
        free = ~taken
        rho = stats.spearmanr(eig[free], gain[free]).statistic
        np.testing.assert_allclose(oracle.eig_gain_spearman[s], rho, atol=1e-4)
        best = gain[free].max()
        chosen = np.flatnonzero(free)[np.argmax(eig[free])]
        if best > 0:
            np.testing.assert_allclose(
                oracle.eig_regret[s], (best - gain[chosen]) / best, rtol=1e-4, atol=1e-6
            )
        # The Oracle's own click is the candidate of best gain.
        best_index = np.flatnonzero(free)[np.argmax(gain[free])]
        assert grid[best_index].tolist() == oracle.clicks[s][:2].tolist()
        assert 0 <= oracle.eig_top_decile_hit[s] <= 1


@pytest.mark.slow
def test_other_policies_record_no_ranking(tiny_model, case):
    image, gt = case
    rec = protocol.run(tiny_model, image, gt, "eig", 3, 0, SETTINGS)
    for name in ("eig_gain_spearman", "eig_regret", "eig_top_decile_hit"):
        assert np.isnan(getattr(rec, name)).all(), name
    assert rec.candidate_dice is not None and np.isnan(rec.candidate_dice).all()


@pytest.mark.slow
def test_where_clicks_lie_from_the_clicks_and_the_ground_truth(oracle, case):
    _, gt = case
    inside = ndimage.distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~gt)
    for s, (x, y, _) in enumerate(oracle.clicks):
        assert oracle.click_inside[s] == float(gt[y, x])
        want = inside[y, x] if gt[y, x] else outside[y, x]
        np.testing.assert_allclose(oracle.click_boundary_distance[s], want, rtol=1e-5)


@pytest.mark.slow
def test_head_histogram_sums_to_one_per_step(oracle):
    hist = oracle.values["head_hist"]
    assert hist.shape == (4, protocol.FIELDS[-1].bins)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0, rtol=1e-5)
    assert len(oracle.to_json()["head_hist"][0]) == hist.shape[1]  # Lists of lists in JSON.


@pytest.mark.slow
def test_nmc_check_measures_the_papers_estimator_against_exact(tiny_model, case):
    image, gt = case
    plain = protocol.run(tiny_model, image, gt, "eig", 3, 0, SETTINGS)
    assert np.isnan(plain.values["nmc_max_eig_error"]).all()
    checked = protocol.run(
        tiny_model, image, gt, "eig", 3, 0, dataclasses.replace(SETTINGS, nmc_check=True)
    )
    np.testing.assert_array_equal(checked.clicks, plain.clicks)  # Nothing else changes.
    np.testing.assert_array_equal(checked.dice, plain.dice)
    errors = checked.values["nmc_max_eig_error"][1:]
    assert np.isfinite(errors).all() and np.isfinite(checked.values["nmc_argmax_agrees"][1:]).all()
    # Eq. 8 is biased upward at small M, and the max over the grid picks up its noise:
    # the error is positive and shrinks as the budget grows.
    assert (errors > 0).all() and (errors[:, -1] < errors[:, 0]).all()


@pytest.mark.slow
def test_the_model_mask_rule_is_the_models_own(tiny_model, case):
    """SAM's own rule is `best_iou_first`: the best multimask token after the single centre
    click, token 0 from the second click on (as its predictor is used and trained)."""
    image, gt = case
    plain = protocol.Settings(grid=6, mask_feedback="none")
    rec = protocol.run(tiny_model, image, gt, "eig", 3, 0, plain)
    best = protocol.run(
        tiny_model, image, gt, "eig", 3, 0, dataclasses.replace(plain, mask_rule="best_iou")
    )
    assert rec.token[0] == best.token[0] >= 1 and rec.dice[0] == best.dice[0]
    np.testing.assert_array_equal(rec.token[1:], 0)
    np.testing.assert_array_equal(rec.dice[1:], rec.dice_token0[1:])
    assert (best.token[1:] >= 1).all()
    np.testing.assert_array_equal(rec.values["head_dice"][:, 0], rec.dice_token0)
    np.testing.assert_array_equal(
        rec.values["head_dice"][np.arange(3), rec.token.astype(int)], rec.dice
    )
    token0 = Model(dataclasses.replace(tiny_model.config, mask_rule="token0"), tiny_model.params)
    rec = protocol.run(token0, image, gt, "eig", 2, 0, protocol.Settings(grid=6))
    np.testing.assert_array_equal(rec.dice, rec.dice_token0)
    assert protocol.Settings().resolved(token0.config).mask_rule == "token0"


@pytest.mark.slow
def test_sigmoid_mask_feedback_is_another_input(tiny_model, case):
    image, gt = case
    feed = protocol.Settings(grid=6, mask_feedback="logits")
    logits = protocol.run(tiny_model, image, gt, "error_center", 3, 0, feed)
    sigmoid = protocol.run(
        tiny_model,
        image,
        gt,
        "error_center",
        3,
        0,
        dataclasses.replace(feed, mask_feedback="sigmoid"),
    )
    assert logits.dice[0] == sigmoid.dice[0] and not np.allclose(logits.dice[1:], sigmoid.dice[1:])


@pytest.mark.slow
def test_sam_med2d_clickers_draw_in_the_models_input_frame(tiny_model, case):
    """A model whose prompt frame is its 256-px input (SAM-Med2D's): the noisy box is
    drawn on the mask as that frame shows it, and every random-error click is a pixel the
    frame shows, labelled by the ground truth, never twice."""
    image, gt = case
    model = Model(dataclasses.replace(tiny_model.config, prompt_frame="input"), tiny_model.params)
    frame = clicks.Frame(gt.shape, model.config.image_size)
    start = dataclasses.replace(protocol.Settings(grid=6), start="noisy_box")
    rec = protocol.run(model, image, gt, "random_error", 6, 3, start)
    box = clicks.noisy_box(frame.view(gt), np.random.default_rng(3))
    scale = np.tile(np.array(gt.shape[::-1], np.float32) / frame.size, 2)
    np.testing.assert_allclose(rec.box, box * scale, rtol=1e-6)
    shown = {frame.to_original(x, y) for x in range(256) for y in range(256)}
    points = [(x, y) for x, y, label in rec.clicks[1:] if label >= 0]
    assert points and len(points) == len(set(points))
    for x, y, label in rec.clicks[1:]:
        assert (x, y) in shown and (label == -1 or label == int(gt[y, x]))
