"""Explicit PyTorch → Flax key maps and the strict conversion that applies them.

A key map is a list of `Entry`: which torch tensors make which Flax leaf, and how. Nothing
is guessed from suffixes: every Flax leaf must be produced by exactly one entry, every
torch tensor must be consumed (or listed as ignored), and every shape must match.
"""

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import jax
import numpy as np

from eigjax.tree_compare import TreeDiff

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Entry:
    sources: tuple[str, ...]  # torch state_dict keys
    target: Path  # path in the Flax params tree
    fn: Callable[..., np.ndarray]  # sources' arrays → the Flax leaf


def _nothing(key: str) -> bool:
    del key
    return False


@dataclasses.dataclass(frozen=True)
class Converter:
    """A family's converter (`weights_convert.CONVERTERS` registers one per family).

    title: the family as an error names it; marker: a key prefix only its checkpoints hold
    (a wrong --model is told which family a checkpoint is); keymap: config → its entries;
    ignored: the checkpoint keys it skips (listed in model.json, never silent).
    """

    title: str
    marker: str
    keymap: Callable[..., list[Entry]]
    ignored: Callable[[str], bool] = _nothing


class ConversionError(ValueError):
    """The checkpoint does not fit the model: lists every missing, unexpected, mis-shaped key."""


def _identity(x):
    return x


def _linear_kernel(w):  # torch (out, in) → flax (in, out)
    return w.T


def _conv_kernel(w):  # torch (out, in, kh, kw) → flax (kh, kw, in, out)
    return w.transpose(2, 3, 1, 0)


def _conv_transpose_kernel(w):  # torch (in, out, kh, kw) → (kh, kw, in, out)
    return w.transpose(2, 3, 0, 1)


def _flatten(w):  # nn.Embedding(1, C).weight (1, C) → (C,)
    return w.reshape(-1)


def _stack_rows(*ws):  # several nn.Embedding(1, C) → (n, C)
    return np.concatenate(ws, axis=0)


def tensor(torch_key: str, target: Path) -> list[Entry]:
    return [Entry((torch_key,), target, _identity)]


def embedding_vector(torch_key: str, target: Path) -> list[Entry]:
    return [Entry((torch_key,), target, _flatten)]


def stacked_embeddings(torch_keys: Sequence[str], target: Path) -> list[Entry]:
    return [Entry(tuple(torch_keys), target, _stack_rows)]


def linear(torch_prefix: str, target: Path, bias: bool = True) -> list[Entry]:
    entries = [Entry((f"{torch_prefix}.weight",), target + ("kernel",), _linear_kernel)]
    if bias:
        entries += tensor(f"{torch_prefix}.bias", target + ("bias",))
    return entries


def conv(torch_prefix: str, target: Path, bias: bool = True) -> list[Entry]:
    entries = [Entry((f"{torch_prefix}.weight",), target + ("kernel",), _conv_kernel)]
    if bias:
        entries += tensor(f"{torch_prefix}.bias", target + ("bias",))
    return entries


def conv_transpose(torch_prefix: str, target: Path) -> list[Entry]:
    return [
        Entry((f"{torch_prefix}.weight",), target + ("kernel",), _conv_transpose_kernel),
        *tensor(f"{torch_prefix}.bias", target + ("bias",)),
    ]


def layer_norm(torch_prefix: str, target: Path) -> list[Entry]:
    return tensor(f"{torch_prefix}.weight", target + ("scale",)) + tensor(
        f"{torch_prefix}.bias", target + ("bias",)
    )


def _problem(array: np.ndarray) -> str:
    """Why a tensor cannot be a weight ('' when it can): not floating point (never cast),
    or holding NaN or infinite values."""
    if not np.issubdtype(array.dtype, np.floating):
        return f"is {array.dtype}, not a float tensor (not cast)"
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    return f"holds {bad} NaN or infinite values" if bad else ""


def _flat_shapes(tree) -> dict[Path, tuple[int, ...]]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {tuple(k.key for k in path): tuple(leaf.shape) for path, leaf in flat}


def _set(tree: dict, path: Path, value) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _converted(entry: Entry, arrays: list, want: tuple) -> tuple[np.ndarray | None, str]:
    """The entry's float32 value, or None and why it does not fit (shape `want`)."""
    try:
        value = entry.fn(*arrays)
    except ValueError:
        value = None
    if value is None or tuple(value.shape) != want:
        got = ", ".join(f"{k} {tuple(a.shape)}" for k, a in zip(entry.sources, arrays, strict=True))
        return None, f"{got} → {'/'.join(entry.target)} expects {want}"
    return np.asarray(value, np.float32), ""


def apply(
    state_dict: dict[str, np.ndarray],
    entries: Iterable[Entry],
    abstract: dict,
    ignored: Callable[[str], bool] = lambda key: False,
    what: str = "checkpoint",
) -> dict:
    """Builds the Flax params tree from `state_dict` through `entries`, strictly.

    Args:
      state_dict: torch key → float32 array.
      entries: the family's key map.
      abstract: the model's params tree (shapes only), e.g. from `jax.eval_shape`.
      ignored: keys that carry nothing the model needs (e.g. BatchNorm step counters).
      what: how to name the checkpoint in errors (its path).

    Raises:
      ConversionError listing every missing, unexpected, mis-shaped and invalid (not
      floating point, or not finite) tensor.
    """
    expected = _flat_shapes(abstract)
    params: dict = {}
    produced: set[Path] = set()
    used: set[str] = set()
    missing, misshaped, invalid = [], [], []
    for entry in entries:
        absent = [k for k in entry.sources if k not in state_dict]
        if absent:
            missing += absent
            continue
        used.update(entry.sources)
        arrays = [state_dict[k] for k in entry.sources]
        bad = [
            f"{k} {_problem(a)}" for k, a in zip(entry.sources, arrays, strict=True) if _problem(a)
        ]
        if bad:
            invalid += bad
            continue
        want = expected.get(entry.target)
        if want is None:
            raise AssertionError(f"key map targets {entry.target}, which the model lacks")
        value, why = _converted(entry, arrays, want)
        if why:
            misshaped.append(why)
            continue
        _set(params, entry.target, value)
        produced.add(entry.target)
    unexpected = sorted(k for k in state_dict if k not in used and not ignored(k))
    diff = TreeDiff(
        missing=tuple(missing),
        unexpected=tuple(f"{k} {tuple(state_dict[k].shape)}" for k in unexpected),
        misshaped=tuple(misshaped),
    )
    if diff or invalid:
        report = diff.report(f"{what} does not fit the model:")
        raise ConversionError("\n".join([report, *(f"  invalid: {line}" for line in invalid)]))
    unmapped = sorted(set(expected) - produced)
    if unmapped:  # A bug in the key map, not in the checkpoint.
        raise AssertionError(f"key map leaves Flax params unset: {unmapped}")
    return params
