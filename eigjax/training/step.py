"""The optimiser and the jitted training step (optax), on the trainable part of the params."""

import functools

import jax
import optax

from eigjax.models.network import Sam
from eigjax.training import interactive

# What `--train` trains; the image encoder is always frozen (its embeddings are cached).
TRAINABLE = {"decoder": ("mask_decoder",), "decoder+prompt": ("mask_decoder", "prompt_encoder")}
WEIGHT_DECAY = 0.01
CLIP_NORM = 0.1  # Of the global gradient norm (SAM 2's trainer: `gradient_clip` 0.1).


def split(params: dict, train: str) -> tuple[dict, dict]:
    """params → (trainable, frozen) top-level subtrees, as `train` names them."""
    keys = TRAINABLE[train]
    return {k: params[k] for k in keys}, {k: v for k, v in params.items() if k not in keys}


def schedule(learning_rate: float, steps: int) -> optax.Schedule:
    """Linear warm-up over 5 % of the steps (at least 1), then cosine decay to 1 %."""
    warmup = max(1, steps // 20)
    return optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, warmup, max(steps, warmup + 1), learning_rate * 0.01
    )


def optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
    """AdamW on the schedule, after clipping the global gradient norm."""
    return optax.chain(
        optax.clip_by_global_norm(CLIP_NORM),
        optax.adamw(schedule(learning_rate, steps), weight_decay=WEIGHT_DECAY),
    )


def make_train_step(network: Sam, tx: optax.GradientTransformation, recipe: interactive.Recipe):
    """`step(trainable, opt_state, frozen, batch, key, use_box)` → (trainable, opt_state,
    metrics {loss, focal, dice, iou, first_iou, mean_iou}), jitted (one compile for each
    value of `use_box`: a box-first and a click-first batch have different prompts)."""

    @functools.partial(jax.jit, static_argnames="use_box")
    def step(trainable, opt_state, frozen, batch, key, use_box):
        keys = jax.random.split(key, batch.gt.shape[0])
        grad_fn = jax.value_and_grad(interactive.batch_loss, has_aux=True)
        (loss, metrics), grads = grad_fn(trainable, frozen, network, batch, keys, use_box, recipe)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), opt_state, {"loss": loss, **metrics}

    return step
