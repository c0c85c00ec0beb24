"""The object classes of the web page and their category ids, which never change.

With `--classes=NAME,NAME,...` (or `--classes=FILE`, one name per line), an object's label
is one of them, chosen with keys 1–9 on the page, and class k has category id k (from 1)
in every export. Without it, labels are free text and each gets the next id the first
time it is saved, kept in WORKDIR/categories.json; an older workdir's labels are numbered
as its exports numbered them (sorted) the first time.
"""

import json
import os
import threading

from experiments import files
from experiments.web import export
from experiments.web.annotations import check_label

REGISTRY = "categories.json"
KEYS = "123456789"


def parse(value: tuple[str, ...]) -> tuple[str, ...]:
    """--classes' names; one value naming a file: its non-empty lines. ValueError naming
    the flag or the file when a name is not a label or is given twice."""
    where = "--classes"
    if len(value) == 1 and os.path.isfile(value[0]):
        where = value[0]
        with open(value[0]) as f:
            value = tuple(line.strip() for line in f if line.strip())
    names = []
    for name in value:
        try:
            names.append(check_label(name))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: {twice} given twice")
    return tuple(names)


def colour(category_id: int) -> str:
    """The class's colour, "#rrggbb": the PNG export's palette entry of its id."""
    r, g, b = export.palette()[3 * category_id : 3 * category_id + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


class Classes:
    """Category ids by label: fixed by `names`, or registered in `workdir`."""

    def __init__(self, names: tuple[str, ...], workdir: str, labels: set[str]):
        """`labels`: the labels of the objects already saved (numbered, sorted, when the
        workdir has no registry yet)."""
        self.fixed = bool(names)
        self._path = os.path.join(workdir, REGISTRY)
        self._lock = threading.Lock()
        if self.fixed:
            self.ids = {name: i + 1 for i, name in enumerate(names)}
        elif os.path.exists(self._path):
            with open(self._path) as f:
                self.ids = {c["name"]: c["id"] for c in json.load(f)["categories"]}
        else:
            self.ids = {}
            for label in sorted(labels):
                self._register(label)

    def check(self, label: str) -> str:
        """`label` if it may be saved; ValueError naming the classes when it is not one."""
        if self.fixed and label not in self.ids:
            raise ValueError(
                f"label {label!r}: not one of the classes {list(self.ids)} (--classes)"
            )
        return label

    def id_of(self, label: str) -> int:
        """`label`'s category id, given now if it has none."""
        with self._lock:
            if label not in self.ids:
                self._register(label)
            return self.ids[label]

    def listing(self) -> list[dict]:
        """Each class: name, id, colour, and its key on the page (the first nine)."""
        ordered = sorted(self.ids.items(), key=lambda item: item[1])
        return [
            {"name": name, "id": i, "colour": colour(i), "key": KEYS[k] if k < 9 else None}
            for k, (name, i) in enumerate(ordered)
        ]

    def _register(self, label: str) -> None:
        self.ids[label] = max(self.ids.values(), default=0) + 1
        categories = [{"name": n, "id": i} for n, i in self.ids.items()]
        files.write_json(self._path, {"categories": categories})
