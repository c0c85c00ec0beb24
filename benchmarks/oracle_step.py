"""One Oracle step (900 grid candidates, sam_vit_b decoder, 1024² image): eigjax vs PyTorch.

  python -m benchmarks.oracle_step            # all variants, ratios at the end

Every variant runs in its own process so that its peak RSS is its own; each evaluates
the same 900 candidate clicks (with a first click) and the Dice of each candidate's
proposed mask (best predicted IoU among tokens 1-3) at 1024x1024:

  eigjax          assess.oracle_dice: vmap over candidates in chunks, for several chunk
                  sizes; the best one is reported (and the default's time)
  torch_batched   the official decoder on batches of prompts, for several batch sizes;
                  the best one is reported
  torch_loop      the official decoder one prompt at a time (timed on a subset of
                  candidates and scaled to 900; marked as such)

Weights are seeded random, the same for every variant (converted for eigjax), so the
best Dice printed must agree across variants; the embedding is random.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

SIZE = 1024
GRID = 30


def _inputs():
    from eigjax import clicks

    rng = np.random.default_rng(0)
    emb = rng.standard_normal((64, 64, 256)).astype(np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    gt = (yy - 500) ** 2 / 300**2 + (xx - 480) ** 2 / 200**2 < 1
    first = np.array([[480.0, 500.0]], np.float32)
    return emb, gt, first, clicks.grid_points(SIZE, SIZE, GRID)


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_eigjax(chunk: int | None) -> dict:
    import jax
    import jax.numpy as jnp

    import weights_convert
    from eigjax import assess, protocol
    from eigjax.models import Embedding, Model, Prompt, configs
    from tests import official

    config = configs.get_config("sam_vit_b")
    torch_sam = official.build_official(config, seed=0)  # The torch variants' weights.
    model = Model(
        config,
        weights_convert.convert_state_dict("sam_vit_b", official.state_dict_numpy(torch_sam)),
    )
    del torch_sam
    emb_np, gt, first, grid = _inputs()
    emb = Embedding(features=jnp.asarray(emb_np), original_size=(SIZE, SIZE))
    chunk = chunk or protocol.Settings().oracle_chunk
    prompt = Prompt.empty(protocol.Settings().max_clicks).add(0, first[0], 1)
    oracle = jax.jit(assess.oracle_dice, static_argnums=(0, 7, 8))

    def step():
        return oracle(
            model.network,
            model.params,
            emb,
            prompt,
            jnp.asarray(gt),
            1,
            jnp.asarray(grid),
            chunk,
            "best_iou",
        ).block_until_ready()

    t = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(2):
        t = time.perf_counter()
        dice = step()
        times.append(time.perf_counter() - t)
    return {
        "variant": f"eigjax chunk={chunk}",
        "seconds": min(times),
        "compile_s": compile_s,
        "peak_rss_gib": _peak_rss_gib(),
        "best_dice": float(np.max(dice)),
        "device": str(jax.devices()[0]),
    }


def _torch_sam():
    import torch

    from eigjax.models import configs
    from tests import official

    sam = official.build_official(configs.get_config("sam_vit_b"), seed=0)
    del sam.image_encoder  # Only the prompt encoder and decoder run per candidate.
    return sam, torch


def _torch_dice(sam, torch, emb, gt_t, first, cands, labels):
    """Dice [B] of each candidate's proposed mask; the official decoder and postprocessing."""
    b = len(cands)
    coords = torch.as_tensor(np.concatenate([np.repeat(first[None], b, 0), cands[:, None]], 1))
    labs = torch.as_tensor(np.stack([np.ones(b, np.int64), labels], 1))
    sparse, dense = sam.prompt_encoder(points=(coords.float(), labs), boxes=None, masks=None)
    low, iou = sam.mask_decoder.predict_masks(
        image_embeddings=emb,
        image_pe=sam.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
    )
    best = 1 + iou[:, 1:].argmax(1)
    chosen = low[torch.arange(b), best][:, None]
    full = torch.nn.functional.interpolate(
        chosen, (SIZE, SIZE), mode="bilinear", align_corners=False
    )
    pred = full[:, 0] > 0
    inter = (pred & gt_t).sum((1, 2)).float()
    return 2 * inter / (pred.sum((1, 2)) + gt_t.sum()).float()


def run_torch(batch: int, limit: int | None) -> dict:
    sam, torch = _torch_sam()
    emb_np, gt, first, grid = _inputs()
    emb = torch.as_tensor(emb_np).permute(2, 0, 1)[None]
    gt_t = torch.as_tensor(gt)
    cands = grid[:limit] if limit else grid
    labels = gt[cands[:, 1], cands[:, 0]].astype(np.int64)
    with torch.no_grad():
        _torch_dice(sam, torch, emb, gt_t, first, cands[:batch], labels[:batch])  # Warm-up.
        t = time.perf_counter()
        out = [
            _torch_dice(sam, torch, emb, gt_t, first, cands[i : i + batch], labels[i : i + batch])
            for i in range(0, len(cands), batch)
        ]
        seconds = time.perf_counter() - t
    scale = len(grid) / len(cands)
    return {
        "variant": f"torch batch={batch}" + (f" ({len(cands)} timed, x{scale:g})" if limit else ""),
        "seconds": seconds * scale,
        "peak_rss_gib": _peak_rss_gib(),
        "best_dice": float(torch.cat(out).max()),
        "threads": torch.get_num_threads(),
    }


def _child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.oracle_step", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["eigjax", "torch"])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--eigjax_chunks", default="4,8,16")
    parser.add_argument("--torch_batches", default="10,30,90")
    parser.add_argument("--loop_limit", type=int, default=60)
    args = parser.parse_args()
    if args.variant == "eigjax":
        print(json.dumps(run_eigjax(args.chunk)))
        return
    if args.variant == "torch":
        print(json.dumps(run_torch(args.batch, args.limit)))
        return

    ours_all = [
        _child(["--variant=eigjax", f"--chunk={c}"])
        for c in map(int, args.eigjax_chunks.split(","))
    ]
    batched = [
        _child(["--variant=torch", f"--batch={b}"]) for b in map(int, args.torch_batches.split(","))
    ]
    loop = _child(["--variant=torch", "--batch=1", f"--limit={args.loop_limit}"])
    results = ours_all + batched + [loop]
    for r in results:
        print(
            f"{r['variant']:<40} {r['seconds']:8.2f} s   peak RSS {r['peak_rss_gib']:.2f} GiB"
            f"   best Dice {r['best_dice']:.4f}"
        )
    ours = min(ours_all, key=lambda r: r["seconds"])
    best_torch = min(batched, key=lambda r: r["seconds"])
    print(
        f"\nmachine: {os.cpu_count()} CPUs, eigjax on {ours['device']}, "
        f"torch {best_torch['threads']} threads; eigjax compile {ours['compile_s']:.1f} s (once)"
    )
    print(f"best eigjax: {ours['variant']}")
    print(
        f"speed-up vs best batched torch ({best_torch['variant']}): "
        f"{best_torch['seconds'] / ours['seconds']:.2f}x"
    )
    print(f"speed-up vs per-click torch loop: {loop['seconds'] / ours['seconds']:.2f}x")


if __name__ == "__main__":
    main()
