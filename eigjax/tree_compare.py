"""One comparison of a parameter tree against what was found: missing, unexpected, mis-shaped.

Every loader builds its error from it (the converter's key map, the params loader), so a
mismatch always reads the same way: one header line, then one line per problem.
"""

import dataclasses
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class TreeDiff:
    """Lines describing each problem, grouped by kind (empty lists: the trees match)."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    misshaped: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def report(self, header: str) -> str:
        """`header`, then "  missing: …", "  unexpected: …", "  mis-shaped: …" lines."""
        lines = [header]
        for kind, items in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("mis-shaped", self.misshaped),
        ):
            lines += [f"  {kind}: {item}" for item in items]
        return "\n".join(lines)


def flat_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    """{"['a']['b']": shape} for every array leaf of a pytree."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in flat}


def compare(expected: dict[str, tuple], found: dict[str, tuple]) -> TreeDiff:
    """What `found` ({path: shape}) lacks, has in excess, or shapes differently."""
    return TreeDiff(
        missing=tuple(f"{k} {expected[k]}" for k in sorted(set(expected) - set(found))),
        unexpected=tuple(f"{k} {found[k]}" for k in sorted(set(found) - set(expected))),
        misshaped=tuple(
            f"{k} found {found[k]}, expected {expected[k]}"
            for k in sorted(set(expected) & set(found))
            if expected[k] != found[k]
        ),
    )
