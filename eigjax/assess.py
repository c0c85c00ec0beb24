"""What one prompt set is worth: the proposed mask, its Dice and IoU, and the EIG map.

Pure and traceable, for one image (unbatched); the protocol `vmap`s them over images.

  assess       the model's prediction for a prompt: Dice/IoU of the proposed mask (and
               of token 0 and of the mean-θ mask), and the EIG map of the next click
  oracle_dice  Dice of the proposed mask after each candidate click, the candidates
               `vmap`ped in chunks (bounded memory)
  oracle_choice  the unclicked candidate of best Dice (`best_unclicked` of `oracle_dice`)
"""

from typing import Literal

import flax.struct
import jax
import jax.numpy as jnp

from eigjax import eig as eig_lib
from eigjax import metrics
from eigjax.models.model import Embedding, decode_original, upsample_to_original
from eigjax.models.prompt import Prompt
from eigjax.models.sam import Sam

MaskRule = Literal["best_iou", "token0"]


@flax.struct.dataclass
class Assessment:
    """One image's prediction after a prompt (H, W: the original size; r: low-res side)."""

    pred: jax.Array  # bool [H, W]: the proposed mask
    token: jax.Array  # int []: its mask token (`proposed_token`)
    predicted_iou: jax.Array  # float [M]: the model's own IoU estimate per token
    low_res: jax.Array  # float [r, r]: its low-res logits (fed back with `feed_mask`)
    dice: jax.Array  # float []: Dice of the proposed mask
    iou: jax.Array  # float []: IoU of the proposed mask
    dice_token0: jax.Array  # float []: Dice of token 0 (the single-mask output)
    dice_mean_theta: jax.Array  # float []: Dice of mean_k θ_k > 0.5 over the EIG heads
    eig_map: jax.Array  # float [H, W]: EIG of observing each pixel next (nats)


def proposed_token(iou: jax.Array, mask_rule: MaskRule) -> jax.Array:
    """The token whose mask is proposed: token 0, or the multimask token (1-3) with the
    best predicted IoU [M]."""
    if mask_rule == "token0":
        return jnp.zeros((), jnp.int32)
    return 1 + jnp.argmax(iou[1:4])


def head_indexes(heads: Literal["multimask", "all"]) -> tuple[int, ...]:
    """The mask tokens whose probabilities form the EIG prior: 1-3, or all four."""
    return (1, 2, 3) if heads == "multimask" else (0, 1, 2, 3)


def assess(
    network: Sam,
    params: dict,
    embedding: Embedding,
    prompt: Prompt,
    gt: jax.Array,
    key: jax.Array,
    settings,
) -> Assessment:
    """The prediction for `prompt` (original pixels) scored against `gt` bool [H, W].

    `settings` (a `protocol.Settings`) gives the mask rule, the EIG heads and estimator;
    `key` seeds the NMC estimator.
    """
    low_res, predicted_iou = decode_original(network, params, embedding, prompt)
    logits = upsample_to_original(low_res, embedding.original_size, network.config)  # [4, H, W]
    probs = jax.nn.sigmoid(logits[jnp.array(head_indexes(settings.heads))])
    token = proposed_token(predicted_iou, settings.mask_rule)
    pred = logits[token] > 0
    with jax.named_scope("eig"):
        if settings.eig == "exact":
            eig_map = eig_lib.eig_exact(probs)
        else:
            eig_map = eig_lib.eig_nmc(key, probs, settings.nmc_outer, settings.nmc_inner)
    with jax.named_scope("dice"):
        dice, iou = metrics.dice_iou(pred, gt)
        return Assessment(
            pred=pred,
            token=token,
            predicted_iou=predicted_iou,
            low_res=low_res[token],
            dice=dice,
            iou=iou,
            dice_token0=metrics.dice_iou(logits[0] > 0, gt)[0],
            dice_mean_theta=metrics.dice_iou(jnp.mean(probs, axis=0) > 0.5, gt)[0],
            eig_map=eig_map,
        )


def oracle_dice(
    network: Sam,
    params: dict,
    embedding: Embedding,
    prompt: Prompt,
    gt: jax.Array,
    slot,
    candidates: jax.Array,
    chunk: int,
    mask_rule: MaskRule,
) -> jax.Array:
    """Dice [G] of the proposed mask after adding each candidate click [G, 2] (x, y) in
    `slot`, labelled by `gt`.

    The candidates run `chunk` at a time under `vmap` with the embedding shared (not
    copied), so memory is O(chunk · H · W) whatever G.
    """
    labels = gt[candidates[:, 1], candidates[:, 0]].astype(jnp.int32)

    def one(args):
        xy, label = args
        low_res, iou = decode_original(network, params, embedding, prompt.add(slot, xy, label))
        token = proposed_token(iou, mask_rule)
        full = upsample_to_original(low_res[token], embedding.original_size, network.config)
        with jax.named_scope("dice"):
            return metrics.dice_iou(full > 0, gt)[0]

    return jax.lax.map(one, (candidates, labels), batch_size=chunk)


def best_unclicked(scores: jax.Array, clicked: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(index, value) of the best score [G] among the points not `clicked` (bool [G]); the
    value is -inf when every point is clicked."""
    masked = jnp.where(clicked, -jnp.inf, scores)
    best = jnp.argmax(masked)
    return best, masked[best]


def oracle_choice(
    network: Sam,
    params: dict,
    embedding: Embedding,
    prompt: Prompt,
    gt: jax.Array,
    slot,
    candidates: jax.Array,
    clicked: jax.Array,
    chunk: int,
    mask_rule: MaskRule,
) -> tuple[jax.Array, jax.Array]:
    """(index, Dice) of the Oracle's click: the candidate [G, 2] not `clicked` (bool [G])
    whose click in `slot` gives the proposed mask of best Dice (`oracle_dice`)."""
    dice = oracle_dice(network, params, embedding, prompt, gt, slot, candidates, chunk, mask_rule)
    return best_unclicked(dice, clicked)
