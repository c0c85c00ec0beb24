"""What one prompt set is worth: the proposed mask, its Dice and IoU, and the EIG map.

Pure and traceable, for one image (unbatched); the protocol `vmap`s them over problems.

  Problem         what stays fixed while an image is clicked: the network, its params, the
                  image's embedding and the ground truth (a pytree; `vmap` maps over it)
  assess          the model's prediction for a prompt: Dice/IoU of the proposed mask (and
                  of token 0 and of the mean-θ mask), and the EIG map of the next click
  oracle_dice     Dice of the proposed mask after each candidate click, the candidates
                  `vmap`ped in chunks (bounded memory)
  best_unclicked  the best score among points not yet clicked (ties: the first index)
"""

import flax.struct
import jax
import jax.numpy as jnp

from eigjax import clicks as click_rules
from eigjax import eig as eig_lib
from eigjax import metrics
from eigjax.models import tokens, transforms
from eigjax.models.model import Embedding, decode_original, decode_scored, upsample_to_original
from eigjax.models.prompt import Prompt


@flax.struct.dataclass
class Problem:
    """One image to click on: the network (static), its params, the image's embedding and
    its ground truth bool [H, W]. Batched problems share the params and stack the rest
    [B, ...]: `jax.vmap(f, in_axes=(problems.batch_axes(), ...))`."""

    network: object = flax.struct.field(pytree_node=False)  # `families.network(config)`
    params: dict
    embedding: Embedding
    gt: jax.Array

    def batch_axes(self) -> "Problem":
        """`vmap`'s in_axes for a batch of problems: params shared, the rest on axis 0."""
        batched = jax.tree_util.tree_map(lambda _: 0, self.embedding)
        return self.replace(params=None, embedding=batched, gt=0)


@flax.struct.dataclass
class Assessment:
    """One image's prediction after a prompt (H, W: the original size; r: low-res side)."""

    pred: jax.Array  # bool [H, W]: the proposed mask
    token: jax.Array  # int []: its mask token (`tokens.proposed_token`)
    predicted_iou: jax.Array  # float [M]: the model's own IoU estimate per token
    low_res: jax.Array  # float [r, r]: its low-res logits (fed back with `feed_mask`)
    dice: jax.Array  # float []: Dice of the proposed mask
    iou: jax.Array  # float []: IoU of the proposed mask
    dice_token0: jax.Array  # float []: Dice of token 0 (the single-mask output)
    dice_mean_theta: jax.Array  # float []: Dice of mean_k θ_k > 0.5 over the EIG heads
    token_dice: jax.Array  # float [M]: Dice of every token's mask
    token_iou: jax.Array  # float [M]: IoU of every token's mask (beside `predicted_iou`)
    object_score: jax.Array  # float []: SAM 3's object-score logit (NaN: no such head)
    eig_map: jax.Array  # float [H, W]: EIG of observing each pixel next (nats)
    head_hist: jax.Array  # float [HEAD_BINS]: share of the heads' θ_k(d) in each bin of [0, 1]
    grid_probs: jax.Array  # float [K, G]: the heads' θ_k at the settings' grid points
    head_weights: jax.Array | None  # float [K]: the EIG heads' weights (None: uniform)


HEAD_BINS = 10  # Equal bins of [0, 1] for the heads' probabilities (how extreme they are).


def head_histogram(probs: jax.Array) -> jax.Array:
    """float [HEAD_BINS]: the share of the values of `probs` (in [0, 1]) in each bin."""
    bins = jnp.clip((probs * HEAD_BINS).astype(jnp.int32), 0, HEAD_BINS - 1)
    return jnp.bincount(bins.ravel(), length=HEAD_BINS) / probs.size


def head_indexes(heads: str, num_mask_tokens: int) -> tuple[int, ...]:
    """The mask tokens whose probabilities form the EIG prior: the multimask tokens
    (1 … M-1), or all M."""
    return tuple(range(1 if heads == "multimask" else 0, num_mask_tokens))


def assess(problem: Problem, prompt: Prompt, key: jax.Array, settings) -> Assessment:
    """The prediction for `prompt` (original pixels) scored against `problem.gt`.

    `settings` (a `protocol.Settings`) gives the mask rule (resolved for the network's
    model), the EIG heads and estimator; `key` seeds the NMC estimator.
    """
    network, emb, gt = problem.network, problem.embedding, problem.gt
    (low_res, predicted_iou, weights), score = decode_scored(network, problem.params, emb, prompt)
    logits = upsample_to_original(low_res, emb.original_size, network.config)  # [M, H, W]
    heads = jnp.array(head_indexes(settings.heads, network.config.num_mask_tokens))
    probs = jax.nn.sigmoid(logits[heads])
    weights = None if weights is None else weights[heads]
    rule = settings.resolved(network.config).mask_rule
    token = tokens.proposed_token(predicted_iou, rule, prompt, low_res)
    pred = logits[token] > 0
    grid = jnp.asarray(click_rules.grid_points(*gt.shape, settings.grid))
    with jax.named_scope("eig"):
        if settings.eig == "exact":
            eig_map = eig_lib.eig_exact(probs, weights)
        else:
            eig_map = eig_lib.eig_nmc(
                key, probs, settings.nmc_outer, settings.nmc_inner, weights=weights
            )
    with jax.named_scope("dice"):
        dice, iou = metrics.dice_iou(pred, gt)
        token_dice, token_iou = jax.vmap(lambda x: metrics.dice_iou(x > 0, gt))(logits)
        return Assessment(
            pred=pred,
            token=token,
            predicted_iou=predicted_iou,
            low_res=transforms.clamp_low_res(low_res[token], network.config),
            dice=dice,
            iou=iou,
            dice_token0=token_dice[0],
            dice_mean_theta=metrics.dice_iou(eig_lib.head_mean(probs, weights) > 0.5, gt)[0],
            token_dice=token_dice,
            token_iou=token_iou,
            object_score=jnp.float32(jnp.nan) if score is None else score,
            eig_map=eig_map,
            head_hist=head_histogram(probs),
            grid_probs=probs[:, grid[:, 1], grid[:, 0]],
            head_weights=weights,
        )


def oracle_dice(
    problem: Problem, prompt: Prompt, slot, candidates: jax.Array, chunk: int, mask_rule: str
) -> jax.Array:
    """Dice [G] of the proposed mask after adding each candidate click [G, 2] (x, y) in
    `slot`, labelled by the ground truth.

    The candidates run `chunk` at a time under `vmap` with the embedding shared (not
    copied), so memory is O(chunk · H · W) whatever G.
    """
    network, emb, gt = problem.network, problem.embedding, problem.gt
    labels = gt[candidates[:, 1], candidates[:, 0]].astype(jnp.int32)

    def one(args):
        xy, label = args
        candidate = prompt.add(slot, xy, label)
        low_res, iou, _ = decode_original(network, problem.params, emb, candidate)
        token = tokens.proposed_token(iou, mask_rule, candidate, low_res)
        full = upsample_to_original(low_res[token], emb.original_size, network.config)
        with jax.named_scope("dice"):
            return metrics.dice_iou(full > 0, gt)[0]

    return jax.lax.map(one, (candidates, labels), batch_size=chunk)


def best_unclicked(scores: jax.Array, clicked: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(index, value) of the best score [G] among the points not `clicked` (bool [G]); ties
    go to the first index (row-major on the grid). The value is -inf when every point is
    clicked."""
    masked = jnp.where(clicked, -jnp.inf, scores)
    best = jnp.argmax(masked)
    return best, masked[best]
