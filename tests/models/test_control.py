"""The calibrated control proves the instrument: with beliefs right by construction,
EIG-guided clicks find the true hypothesis in about log₂ K clicks, beat random grid clicks,
and a stated miscalibration makes them worse (so the test can fail)."""

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
import pytest

from eigjax import clicks, eig, models, protocol
from eigjax.data import spec
from eigjax.models.control import calibrated as control
from eigjax.models.model import Model
from eigjax.models.prompt import Prompt

STEPS = 8


@pytest.fixture(scope="module")
def masks():
    return [(s.id, s.image, s.mask) for s in spec.samples(spec.parse("bundled"))]


@pytest.fixture(scope="module")
def calibrated():
    return models.load("calibrated")


@pytest.fixture(scope="module")
def overconfident(calibrated):
    cfg = calibrated.config
    return Model(
        dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, prior="overconfident")),
        {},
    )


@pytest.fixture(scope="module")
def runs(masks, calibrated, overconfident):
    """{(model, policy, mask id): record} from a centre click, 8 steps."""
    out = {}
    for name, model in (("calibrated", calibrated), ("overconfident", overconfident)):
        for policy in ("eig", "random"):
            for mask_id, image, mask in masks:
                out[name, policy, mask_id] = protocol.run(model, image, mask, policy, STEPS)
    return out


def test_hypotheses_are_distinct_on_the_grid_and_the_truth_is_one(masks):
    cfg = models.get_config("calibrated").encoder
    for mask_id, _, mask in masks:
        h = control.hypotheses(mask, cfg)
        grid = clicks.grid_points(*mask.shape, cfg.grid)
        assert h.shape == (cfg.num_hypotheses, *mask.shape)
        np.testing.assert_array_equal(h[0], mask)
        signatures = {k[grid[:, 1], grid[:, 0]].tobytes() for k in h}
        assert len(signatures) == cfg.num_hypotheses, mask_id
        regions = control.edit_regions(mask, cfg.factors, cfg.grid)
        x, y = clicks.first_click(mask)
        assert sum(r.astype(int) for r in regions).max() == 1, mask_id  # Disjoint.
        assert not any(r[y, x] for r in regions), mask_id  # The start tells nothing.


def test_posterior_is_exact_bayes(masks, calibrated):
    _, image, mask = masks[3]
    emb = calibrated.embed(image, mask)
    hyp = np.asarray(emb.features)[..., :-1]  # [r, r, K] in the 256 frame (= the image's).
    eps = calibrated.config.encoder.label_noise
    rng = np.random.default_rng(0)
    for _ in range(5):
        xy = rng.integers(0, 256, (4, 2))
        labels = rng.integers(0, 2, 4)
        out = calibrated.predict(emb, xy.astype(np.float32), labels)
        like = np.where(hyp[xy[:, 1], xy[:, 0]] == labels[:, None], 1 - eps, eps).prod(0)
        np.testing.assert_allclose(np.asarray(out.head_weights)[1:], like / like.sum(), rtol=1e-5)
        assert float(out.head_weights[0]) == 0.0


def test_a_region_point_is_worth_log2_minus_the_noise(masks, calibrated):
    _, image, mask = masks[0]
    out = calibrated.predict(calibrated.embed(image, mask), np.zeros((0, 2)), np.zeros(0, int))
    probs = 1 / (1 + jnp.exp(-out.logits[1:]))
    value = eig.eig_exact(probs, out.head_weights[1:])
    eps = calibrated.config.encoder.label_noise
    expected = math.log(2) + eps * math.log(eps) + (1 - eps) * math.log(1 - eps)
    assert float(value.max()) == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_eig_guided_finds_the_truth_within_log2_k_plus_one_clicks(masks, runs, calibrated):
    k = calibrated.config.encoder.num_hypotheses
    budget = math.ceil(math.log2(k)) + 1  # Clicks, the centre click among them.
    for mask_id, _, _ in masks:
        dice = runs["calibrated", "eig", mask_id].dice
        assert np.all(dice[budget - 1 :] == 1.0), (mask_id, dice)


@pytest.mark.slow
def test_eig_guided_dice_auc_is_at_least_random_on_every_mask(masks, runs):
    for mask_id, _, _ in masks:
        a = runs["calibrated", "eig", mask_id].dice_auc
        b = runs["calibrated", "random", mask_id].dice_auc
        assert a >= b, (mask_id, a, b)


@pytest.mark.slow
def test_an_overconfident_prior_makes_eig_guided_worse(masks, runs):
    for mask_id, _, _ in masks:
        good = runs["calibrated", "eig", mask_id].dice_auc
        bad = runs["overconfident", "eig", mask_id].dice_auc
        assert bad < good, (mask_id, good, bad)


def test_the_control_needs_its_ground_truth(masks, calibrated):
    _, image, _ = masks[0]
    with pytest.raises(ValueError, match="needs the mask"):
        calibrated.embed(image)


def test_clicks_only_a_box_tells_nothing(masks, calibrated):
    _, image, mask = masks[0]
    emb = calibrated.embed(image, mask)
    none = calibrated.predict_prompt(emb, Prompt.empty(2))
    boxed = calibrated.predict_prompt(emb, Prompt.empty(2, box=clicks.gt_box(mask)))
    np.testing.assert_array_equal(np.asarray(none.head_weights), np.asarray(boxed.head_weights))
