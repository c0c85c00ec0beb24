"""The page's request types: one parsing step turns any decoded JSON into a typed request
or a 400 that names the field, and every body route of the server declares its type."""

import dataclasses
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.web import messages, server

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
TYPES = (
    messages.PromptRequest,
    messages.OracleRun,
    messages.Save,
    messages.Target,
    messages.Rename,
    messages.Mark,
    messages.Job,
)


@settings(deadline=None, max_examples=300)
@given(
    kind=st.sampled_from(TYPES),
    body=JSON
    | st.dictionaries(
        st.sampled_from(
            ["image", "id", "clicks", "box", "model", "label", "mask_rule", "truth", "job", "x"]
        ),
        JSON,
        max_size=5,
    ),
)
def test_any_json_is_a_typed_request_or_a_400_naming_what_is_wrong(kind, body):
    try:
        request = messages.parse(kind, body)
    except messages.ApiError as e:
        assert e.status == 400
        named = [f.name for f in dataclasses.fields(kind)] + ["body", "unknown fields"]
        assert any(str(e).startswith(n) or n in str(e) for n in named), str(e)
        return
    assert isinstance(request, kind)
    hints = typing.get_type_hints(kind)
    for f in dataclasses.fields(kind):
        value = getattr(request, f.name)
        assert body.get(f.name, f.default) == value
        allowed = typing.get_args(hints[f.name]) or (hints[f.name],)
        assert value == f.default or isinstance(value, allowed), (f.name, value)


@pytest.mark.parametrize(
    "body, message",
    [
        ([1], "the body must be a JSON object"),
        ({"image": "a", "tip": 1}, "unknown fields ['tip']"),
        ({}, "image: required"),
        ({"image": 3}, "image: expected a name from GET /api/images, got 3"),
        ({"image": "a", "clicks": "1,1,1"}, "clicks: expected a list of [x, y, label]"),
        ({"image": "a", "box": {"x": 1}}, "box: expected [x0, y0, x1, y1] or null"),
    ],
)
def test_a_prompt_that_is_not_one_says_which_field(body, message):
    with pytest.raises(messages.ApiError, match=message.replace("[", r"\[").replace("]", r"\]")):
        messages.parse(messages.PromptRequest, body)


def test_every_route_with_a_body_declares_its_type():
    bodies = {route.body for route in server.ROUTES.values()}
    assert bodies == {None, *TYPES, messages.Upload}
    for (method, _), route in server.ROUTES.items():
        assert (route.body is None) == (method == "GET"), (method, route)
