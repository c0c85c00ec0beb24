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
