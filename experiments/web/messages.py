"""What the page's API takes and gives: each JSON request type declared once, the one step
that checks a body against its type (`parse`), the answers a route gives (`Json`,
`Payload`), and `ApiError`, a client's mistake as one 4xx shape: {"error": message}.

The server's route table (`server.ROUTES`) names each route's request type; what needs
the image or the models (a click inside the image, a served model) is checked by the
service (`api.py`, `labelling.py`) on the typed request.
"""

import dataclasses
import types
import typing

from experiments.web.annotations import DEFAULT_LABEL


class ApiError(Exception):
    """A client's mistake: the HTTP status and a message saying what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _field(default=dataclasses.MISSING, expect: str = ""):
    """A request field; `expect` says what a wrong value should have been."""
    return dataclasses.field(default=default, metadata={"expect": expect})


@dataclasses.dataclass(frozen=True)
class PromptRequest:
    """POST /api/predict and /api/oracle: a prompt on a served image."""

    image: str = _field(expect="a name from GET /api/images")
    model: str | None = _field(None, "a name")
    clicks: list = _field((), "a list of [x, y, label]")  # [[x, y, 1 | 0], …] in pixels
    box: list | None = _field(None, "[x0, y0, x1, y1] or null")
    mask_rule: str | None = _field(None, "a mask rule's name")
    strokes: list = _field((), "a list of {mode, radius, points}")  # strokes.py: brush, eraser
    truth: int = _field(0, "an index into the image's truths")  # The ground truth scored.


@dataclasses.dataclass(frozen=True)
class OracleRun(PromptRequest):
    """POST /api/oracle: a prompt; with `job`, followed (GET /api/oracle?job=) and
    cancelled (DELETE /api/oracle) under that id while it runs."""

    job: str | None = _field(None, "an id of your choosing (1 to 64 letters, digits, - or _)")


@dataclasses.dataclass(frozen=True)
class Job:
    """DELETE /api/oracle: the running Oracle to cancel."""

    job: str = _field(expect="the id its POST /api/oracle gave")


@dataclasses.dataclass(frozen=True)
class Save(PromptRequest):
    """POST /api/objects: the object a prompt gives, saved (as a new one, or as `id`)."""

    label: str = _field(DEFAULT_LABEL, "text")
    id: str | None = _field(None, "an object's id from GET /api/objects, or none (a new one)")


@dataclasses.dataclass(frozen=True)
class Target:
    """DELETE /api/objects: one saved object."""

    image: str = _field(expect="a name from GET /api/images")
    id: str = _field(expect="an object's id from GET /api/objects")


@dataclasses.dataclass(frozen=True)
class Rename(Target):
    """PATCH /api/objects: one saved object's new label."""

    label: str = _field(expect="text")


@dataclasses.dataclass(frozen=True)
class Mark:
    """PATCH /api/images: an image marked to do, done or skipped."""

    image: str = _field(expect="a name from GET /api/images")
    status: str = _field(expect='"todo", "done" or "skipped"')


@dataclasses.dataclass(frozen=True)
class Upload:
    """POST /api/upload?name=NAME: an image file's bytes as the body."""

    name: str
    content_type: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Json:
    """An answer: JSON data."""

    data: dict | list


@dataclasses.dataclass(frozen=True)
class Payload:
    """An answer: bytes of a type; with a file name, a download."""

    content_type: str
    data: bytes
    filename: str = ""


def short(value) -> str:
    """A client's value for an error message, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fits(value, hint) -> bool:
    """`value` (decoded JSON) is of the declared type `hint` (str, list, or X | None)."""
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(value is None if k is type(None) else isinstance(value, k) for k in kinds)


def parse(kind: type, body):
    """`body` (decoded JSON) as the request type `kind`; ApiError 400 naming the field when
    it is not an object, holds a field `kind` does not, lacks a required one or holds a
    value of another type."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(body) - set(fields)
    if unknown:
        raise ApiError(400, f"unknown fields {sorted(unknown)[:5]}")
    hints = typing.get_type_hints(kind)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING
        if name not in body and required:
            raise ApiError(400, f"{name}: required ({f.metadata['expect']})")
        if name in body and not _fits(body[name], hints[name]):
            raise ApiError(400, f"{name}: expected {f.metadata['expect']}, got {short(body[name])}")
    return kind(**body)
