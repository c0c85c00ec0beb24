"""What the web page shows, as pure functions: equal to the model, EIG and the protocol."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigjax import clicks, eig, feedback, protocol
from eigjax.assess import Problem
from tests.helpers import demo_image, demo_mask

GRID = 8


@pytest.fixture(scope="module")
def case():
    image = demo_image("s0114_111.png")
    return image, demo_mask("s0114_111.png", "heart_ventricle_left")


def _feedback(model, emb, user_clicks, box, gt, taken=None):
    """feedback.feedback, grid points under a click or at index `taken` clicked."""
    s = protocol.Settings(grid=GRID)
    grid = clicks.grid_points(*gt.shape, s.grid)
    clicked = feedback.clicked_on_grid(grid, user_clicks)
    if taken is not None:
        clicked[taken] = True
    problem = Problem(model.network, model.params, emb, jnp.asarray(gt))
    prompt = feedback.prompt_of(user_clicks, box)
    fb = feedback.feedback(problem, prompt, jnp.asarray(clicked), settings=s)
    return fb, grid, clicked


@pytest.mark.slow
def test_feedback_is_the_models_prediction_and_its_eig(tiny_model, case):
    image, gt = case
    emb = tiny_model.embed(image)
    x, y = clicks.first_click(gt)
    grid = clicks.grid_points(*gt.shape, GRID)
    user = np.array([[x, y, 1], [*grid[5], 0]], np.float64)  # A click on a grid point.
    box = np.array([40, 50, 200, 220], np.float32)
    fb, grid, clicked = _feedback(tiny_model, emb, user, box, gt)
    out = tiny_model.predict(emb, user[:, :2], user[:, 2].astype(np.int32), box)
    token = 0  # SAM's own rule, best_iou_first: token 0 for two clicks and a box.
    assert int(fb.token) == token
    np.testing.assert_allclose(fb.predicted_iou, out.iou, atol=1e-6)
    np.testing.assert_array_equal(fb.mask, np.asarray(out.logits[token]) > 0)
    probs = 1 / (1 + np.exp(-np.asarray(out.logits[1:4], np.float64)))
    np.testing.assert_allclose(fb.eig_map, eig.eig_exact(probs), atol=1e-5)
    assert clicked.sum() == 1 and clicked[5]
    on_grid = np.where(clicked, -np.inf, np.asarray(fb.eig_map)[grid[:, 1], grid[:, 0]])
    assert int(fb.suggestion) == int(np.argmax(on_grid)) and fb.eig_max == on_grid.max()
    # A taken grid point is never suggested: with the suggestion taken, the next best.
    again, _, _ = _feedback(tiny_model, emb, user, box, gt, taken=int(fb.suggestion))
    on_grid[int(fb.suggestion)] = -np.inf
    assert int(again.suggestion) == int(np.argmax(on_grid)) != int(fb.suggestion)
    pred = np.asarray(fb.mask)
    np.testing.assert_allclose(fb.dice, 2 * (pred & gt).sum() / (pred.sum() + gt.sum()), atol=1e-6)
    np.testing.assert_allclose(fb.iou, (pred & gt).sum() / (pred | gt).sum(), atol=1e-6)


@pytest.mark.slow
def test_oracle_click_is_the_protocols_oracle(tiny_model, case):
    image, gt = case
    s = protocol.Settings(grid=GRID, oracle_chunk=4)
    rec = protocol.run(tiny_model, image, gt, "oracle", 2, 0, s)
    grid = clicks.grid_points(*gt.shape, GRID)
    user = rec.clicks[:1].astype(np.float64)
    emb = tiny_model.embed(image)

    def oracle(clicked):
        problem = Problem(tiny_model.network, tiny_model.params, emb, jnp.asarray(gt))
        state = protocol.ClickState(feedback.prompt_of(user, None).truncated(2), clicked)
        search = feedback.oracle_click(problem, state, 1, capacity=2, settings=s)
        best = int(np.argmin(np.abs(grid - np.asarray(search.click)[:2]).sum(1)))
        return best, search.dice

    clicked = feedback.clicked_on_grid(grid, user)
    best, dice = oracle(clicked)
    assert grid[int(best)].tolist() == rec.clicks[1, :2].tolist()
    np.testing.assert_allclose(dice, rec.dice[1], atol=2 / gt.sum())
    clicked[int(best)] = True  # Taken: the Oracle moves to its next best.
    second, second_dice = oracle(clicked)
    assert int(second) != int(best) and second_dice <= dice
    # In parts (the page counts and may stop between them): the same Dice, the same click.
    problem = Problem(tiny_model.network, tiny_model.params, emb, jnp.asarray(gt))
    state = protocol.ClickState(feedback.prompt_of(user, None).truncated(2), clicked)
    whole = feedback.oracle_click(problem, state, 1, capacity=2, settings=s)
    size = 12  # Past the grid's end in the last part: padded, then cut.
    assert len(grid) % size
    parts = [
        feedback.oracle_dice(problem, state, 1, capacity=2, settings=s, first=first, size=size)
        for first in range(0, len(grid), size)
    ]
    dice = jnp.concatenate(parts)[: len(grid)]
    np.testing.assert_array_equal(dice, whole.candidate_dice)
    chosen = feedback.oracle_choice(problem, state, dice, s)
    assert chosen.click.tolist() == whole.click.tolist() and chosen.dice == whole.dice


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**31 - 1))
def test_prompt_of_keeps_every_click_and_one_free_slot(n, seed):
    rng = np.random.default_rng(seed)
    user = np.c_[rng.uniform(0, 100, (n, 2)), rng.integers(0, 2, n)]
    p = feedback.prompt_of(user, None)
    capacity = p.points.shape[0]
    assert capacity % feedback.CAPACITY_STEP == 0 and n < capacity <= n + feedback.CAPACITY_STEP
    assert int(p.valid.sum()) == n and bool(p.valid[:n].all())
    np.testing.assert_allclose(p.points[:n], user[:, :2].astype(np.float32))
    np.testing.assert_array_equal(p.labels[:n], user[:, 2])


def test_prompt_of_refuses_labels_other_than_positive_or_negative():
    with pytest.raises(ValueError, match="clicks: labels"):
        feedback.prompt_of(np.array([[1.0, 2.0, -1]]), None)
    with pytest.raises(ValueError, match="points"):
        feedback.prompt_of(np.array([[np.nan, 2.0, 1]]), None)
    with pytest.raises(ValueError, match="box"):
        feedback.prompt_of(np.array([[1.0, 2.0, 1]]), np.array([5, 5, 1, 1]))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**31 - 1))
def test_clicked_on_grid_marks_exactly_the_clicked_pixels(n, seed):
    grid = clicks.grid_points(64, 48, n)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(grid), size=min(3, len(grid)), replace=False)
    user = np.c_[grid[picks] + 0.7, np.ones(len(picks))]  # Anywhere inside the pixel.
    user = np.r_[user, [[47.0, 63.0, 0]]]  # A pixel that may or may not be a grid point.
    on_corner = (grid == [47, 63]).all(1)
    expected = np.isin(np.arange(len(grid)), picks) | on_corner
    np.testing.assert_array_equal(feedback.clicked_on_grid(grid, user), expected)
