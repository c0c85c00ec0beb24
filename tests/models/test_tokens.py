"""The proposed-token rule (`eigjax.models.tokens`), the one the protocol, the fine-tune,
`predict` and the benchmark share."""

import hypothesis.extra.numpy as hnp
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigjax.models import tokens
from eigjax.models.prompt import Prompt

IOUS = hnp.arrays(np.float32, (4,), elements=st.floats(0, 1, width=32), unique=True)


def _prompt(clicks: int, box: bool, slots: int = 3) -> Prompt:
    prompt = Prompt.empty(slots, box=jnp.array([1.0, 2.0, 30.0, 40.0]) if box else None)
    for i in range(clicks):
        prompt = prompt.add(i, (5.0 + i, 6.0), i % 2)
    return prompt


@settings(deadline=None, max_examples=40)
@given(iou=IOUS, clicks=st.integers(0, 3), box=st.booleans())
def test_each_rule_proposes_its_token(iou, clicks, box):
    prompt = _prompt(clicks, box)
    best = 1 + int(np.argmax(iou[1:]))
    single = clicks == 1 and not box
    assert bool(tokens.single_click(prompt)) == single
    assert int(tokens.proposed_token(jnp.asarray(iou), "token0", prompt)) == 0
    assert int(tokens.proposed_token(jnp.asarray(iou), "best_iou", prompt)) == best
    first = int(tokens.proposed_token(jnp.asarray(iou), "best_iou_first", prompt))
    assert first == (best if single else 0)


def test_an_unresolved_rule_is_refused():
    with pytest.raises(ValueError, match="resolve it"):
        tokens.proposed_token(jnp.zeros(4), "model", _prompt(1, False))


@settings(deadline=None, max_examples=40)
@given(
    iou=IOUS,
    clicks=st.integers(0, 3),
    box=st.booleans(),
    token0=hnp.arrays(np.float32, (6, 6), elements=st.sampled_from([-0.1, -0.01, 0.01, 0.1])),
)
def test_the_stable_rule_keeps_token0_only_while_it_is_stable(iou, clicks, box, token0):
    prompt = _prompt(clicks, box)
    low_res = jnp.concatenate([jnp.asarray(token0)[None], jnp.zeros((3, 6, 6))])
    inner, outer = np.sum(token0 > 0.05), np.sum(token0 > -0.05)
    score = inner / outer if outer else 1.0
    assert float(tokens.stability(low_res[0])) == pytest.approx(score)
    got = int(tokens.proposed_token(jnp.asarray(iou), "best_iou_first_stable", prompt, low_res))
    best = 1 + int(np.argmax(iou[1:]))
    if clicks == 1 and not box:
        assert got == best
    else:
        assert got == (0 if score >= tokens.STABILITY_THRESH else best)


def test_the_stable_rule_needs_the_logits():
    with pytest.raises(ValueError, match="low-res logits"):
        tokens.proposed_token(jnp.zeros(4), "best_iou_first_stable", _prompt(2, False))
