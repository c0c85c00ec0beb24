"""One Oracle step (900 grid candidates) against the official PyTorch decoder, and against
eigjax before this optimisation, measured in the same run.

  python -m benchmarks.oracle_step --case=litemedsam:512     # real weights, a 512² CT slice
  python -m benchmarks.oracle_step --case=sam_vit_b:1024     # seeded random weights, 1024²
  python -m benchmarks.oracle_step --case=sam2.1_hiera_tiny:1024 --baseline=''  # SAM 2.1
  python -m benchmarks.oracle_step --case=sam3_reduced:1008 --baseline=''  # SAM 3's heads

The step is the protocol's step 1: a centre click placed, each of the 900 grid points
tried as the second click, the Dice of each candidate's proposed mask (best predicted IoU
of tokens 1-3) at the original resolution, the best one chosen. Variants, each in its own
process (its peak RSS is its own):

  eigjax          this tree: the Oracle's `protocol.search_batch` as the protocol's runner calls it
                  (`--precisions` adds the other arithmetics)
  eigjax@REV      the same step in the tree of git revision `--baseline` (default: main
                  before this work), through its own `protocol.oracle_dice`
  torch loop      the official decoder + post-processing, one prompt at a time (timed on
                  `--loop_limit` candidates, scaled to 900); for SAM 2, the official
                  `SAM2ImagePredictor._predict`, as its `predict` calls it
  torch batched   the same on batches of 10 prompts

The matmul bound is the decoder's multiply-adds × 900 at this machine's float32 matmul
rate, measured here (a 2048³ JAX matmul). Every variant reports the best candidate and
its Dice: they must agree.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from benchmarks import cases
from eigjax.models import families

GRID = 30
BASELINE = "cd87e97"  # main before the Oracle work (issue 9)


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def case_arrays(case: str):
    """(model name, image uint8 or None, gt bool [S, S], first click (x, y))."""
    from eigjax import clicks

    name, size = case.split(":")
    size = int(size)
    if name == "litemedsam":
        image, gt = cases.ct_case(size)
    else:
        image, gt = None, cases.ellipse(size)
    return name, image, gt, clicks.first_click(gt)


def _weights(name: str):
    """Official torch modules (prompt encoder, decoder) and their state dict as numpy."""
    from references import official

    if name == "litemedsam":
        net, _ = official.lite_medsam()
    elif name.startswith("sam2"):
        from references import sam2

        net = sam2.build(name, seed=0)
    elif name.startswith("sam3"):  # The step runs the decoder only: SAM 3's at any trunk.
        from references import sam3

        trunk = sam3.SAM3 if name == "sam3" else sam3.REDUCED
        net = sam3.build(seed=0, trunk=trunk, text_layers=1)
        return net, {k: v.numpy() for k, v in sam3.checkpoint_dict(net).items()}
    else:
        net = official.build_official(families.get_config(name), seed=0)
    return net, official.state_dict_numpy(net)


def _embedding(name, image, net):
    """The image embedding [h, w, C] (numpy; SAM 2: with its high-res levels): the
    model's for a real image, else seeded random."""
    import torch

    from eigjax.models import transforms

    config = families.get_config(name)
    if image is None:
        return cases.random_features(config)
    x = torch.as_tensor(transforms.preprocess(image, config)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return net.image_encoder(x)[0].permute(1, 2, 0).numpy()


def _case_model(case: str):
    """(name, gt, first click, embedding features, Model) of `case`, in whichever eigjax
    tree this process imports (this one, or the baseline's)."""
    import weights_convert
    from eigjax.models import Model

    name, image, gt, first = case_arrays(case)
    net, state_dict = _weights(name)
    features = _embedding(name, image, net)
    del net
    model = Model(families.get_config(name), weights_convert.convert_state_dict(name, state_dict))
    return name, gt, first, features, model


def run_eigjax(case: str, precision: str, chunk: int) -> dict:
    from eigjax import protocol
    from eigjax.models import tokens
    from eigjax.models.prompt import Prompt

    name, gt, first, features, model = _case_model(case)
    # The reference clickers' rule (the best of tokens 1-3 after every click).
    settings = protocol.Settings(precision=precision, oracle_chunk=chunk, mask_rule="best_iou")
    problems, start = cases.oracle_inputs(model, gt, features, settings)
    t = time.perf_counter()
    step, args, settings = cases.oracle_step(problems, start.state, 1, settings)
    compile_s = time.perf_counter() - t
    chunk = settings.oracle_chunk
    times = []
    for _ in range(2):
        t = time.perf_counter()
        click = np.asarray(step(*args).click)[0]
        times.append(time.perf_counter() - t)
    # The chosen candidate's Dice, predicted again on its own.
    emb1 = cases.embedding(features, gt.shape)
    points = np.array([first, click[:2]], np.float32)
    prompt = Prompt.create(points, np.array([1, click[2]]))
    out = model.predict_prompt(emb1, prompt)
    pred = np.asarray(out.logits[int(tokens.proposed_token(out.iou, "best_iou", prompt))]) > 0
    best_dice = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
    return {
        "variant": f"eigjax {precision}, chunk {chunk}",
        "seconds": min(times),
        "compile_s": compile_s,
        "peak_rss_gib": _peak_rss_gib(),
        "click": [int(click[0]), int(click[1])],
        "best_dice": float(best_dice),
    }


def run_baseline(case: str) -> dict:
    """The Oracle step of the tree this process imports `eigjax` from (an older revision)."""
    import jax.numpy as jnp

    from eigjax import clicks, protocol
    from eigjax.models import Embedding

    name, gt, first, features, model = _case_model(case)
    config = model.config
    settings = protocol.Settings()
    cap = settings.max_clicks
    points = np.zeros((1, cap, 2), np.float32)
    points[0, 0] = first
    labels = np.zeros((1, cap), np.int32)
    labels[0, 0] = 1
    valid = np.zeros((1, cap), bool)
    valid[0, 0] = True
    grid = clicks.grid_points(*gt.shape, GRID)
    r = config.low_res_size
    emb = Embedding(features=jnp.asarray(features)[None], original_size=gt.shape)

    def step():
        return protocol.oracle_dice(
            model.network,
            model.params,
            emb,
            jnp.asarray(points),
            jnp.asarray(labels),
            jnp.asarray(valid),
            jnp.zeros((1, r, r)),
            jnp.zeros(1, bool),
            jnp.asarray(gt)[None],
            1,
            jnp.asarray(grid),
            settings.oracle_chunk,
        )[0].block_until_ready()

    t = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(2):
        t = time.perf_counter()
        dice = np.asarray(step())
        times.append(time.perf_counter() - t)
    best = int(np.argmax(dice))
    return {
        "variant": f"eigjax@{os.environ.get('EIGJAX_REV', 'baseline')}",
        "seconds": min(times),
        "compile_s": compile_s,
        "peak_rss_gib": _peak_rss_gib(),
        "click": [int(v) for v in grid[best]],
        "best_dice": float(dice[best]),
    }


def _torch_dice(name, image, gt, first, net):
    """dice(candidates [b, 2], labels [b]) → Dice [b] of the official decoder's proposed
    masks (best predicted IoU of tokens 1-3) after the first click and each candidate."""
    import torch

    from eigjax.models import transforms
    from references import official

    config = families.get_config(name)
    features = _embedding(name, image, net)
    scale = transforms.transform_coords(np.ones(2), gt.shape, config)
    gt_t = torch.as_tensor(gt)

    def prompt(c, lab):
        b = len(c)
        coords = np.concatenate([np.repeat(np.asarray(first)[None, None], b, 0), c[:, None]], 1)
        labels = torch.as_tensor(np.stack([np.ones(b, np.int64), lab], 1), dtype=torch.int)
        return torch.as_tensor(coords * scale, dtype=torch.float), labels

    def score(pred):
        inter = (pred & gt_t).sum((1, 2)).float()
        return 2 * inter / (pred.sum((1, 2)) + gt_t.sum()).float()

    if name.startswith(("sam2", "sam3")):  # The official image predictor's own `_predict`.
        from references import sam2, sam3

        reference = sam3 if name.startswith("sam3") else sam2
        p = reference.predictor_on(net, features, gt.shape)

        def dice(c, lab):
            masks, iou, _ = p._predict(*prompt(c, lab), multimask_output=True, return_logits=True)
            return score(masks[torch.arange(len(c)), iou.argmax(1)] > 0)

        return dice
    emb = torch.as_tensor(features).permute(2, 0, 1)[None]
    in_h, in_w = transforms.input_size(gt.shape, config)
    post = official.sam_methods(config).postprocess_masks

    def dice(c, lab):
        coords, labels = prompt(c, lab)
        sparse, dense = net.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low, iou = net.mask_decoder.predict_masks(
            image_embeddings=emb,
            image_pe=net.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
        )
        chosen = low[torch.arange(len(c)), 1 + iou[:, 1:].argmax(1)][:, None]
        return score(post(chosen, (in_h, in_w), gt.shape)[:, 0] > 0)

    return dice


def run_torch(case: str, batch: int, limit: int | None) -> dict:
    import torch

    from eigjax import clicks

    name, image, gt, first = case_arrays(case)
    net, _ = _weights(name)
    grid = clicks.grid_points(*gt.shape, GRID)
    cands = grid[:limit] if limit else grid
    labels = gt[cands[:, 1], cands[:, 0]].astype(np.int64)
    dice = _torch_dice(name, image, gt, first, net)

    with torch.no_grad():
        dice(cands[:batch], labels[:batch])  # Warm-up.
        t = time.perf_counter()
        out = torch.cat(
            [dice(cands[i : i + batch], labels[i : i + batch]) for i in range(0, len(cands), batch)]
        )
        seconds = time.perf_counter() - t
    best = int(out.argmax())
    return {
        "variant": f"torch batch {batch}"
        + (f" ({len(cands)} timed, ×{len(grid) / len(cands):g})" if limit else ""),
        "seconds": seconds * len(grid) / len(cands),
        "peak_rss_gib": _peak_rss_gib(),
        "click": [int(v) for v in cands[best]] if not limit else None,
        "best_dice": float(out.max()) if not limit else None,
        "threads": torch.get_num_threads(),
    }


def matmul_bound(case: str) -> dict:
    """Decoder MACs per candidate × 900 at the measured float32 matmul rate."""
    import jax
    import jax.numpy as jnp

    from eigjax.models import configs

    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: jnp.dot(a, a, precision="highest"))
    f(a).block_until_ready()
    t = time.perf_counter()
    for _ in range(5):
        f(a).block_until_ready()
    rate = 5 * 2 * 2048**3 / (time.perf_counter() - t)
    macs = configs.decoder_macs(families.get_config(case.split(":")[0]))
    return {"macs_per_candidate": macs, "gflops": rate / 1e9, "seconds": 900 * 2 * macs / rate}


def _child(args: list[str], cwd=None, env=None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.oracle_step", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _baseline(case: str, rev: str) -> dict:
    """Runs `run_baseline` with eigjax imported from a worktree of `rev`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        subprocess.run(
            ["git", "-C", root, "worktree", "add", "-q", "--detach", tree, rev], check=True
        )
        try:
            # cwd = the old tree (its eigjax, weights_convert, tests come first on sys.path);
            # this benchmark package, which the old tree lacks as a package, from PYTHONPATH.
            return _child(
                [f"--case={case}", "--variant=baseline"],
                cwd=tree,
                env={"PYTHONPATH": root, "EIGJAX_REV": rev},
            )
        finally:
            subprocess.run(["git", "-C", root, "worktree", "remove", "--force", tree], check=True)


FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.variant:
        run = {
            "eigjax": lambda: run_eigjax(FLAGS.case, FLAGS.precision, FLAGS.chunk),
            "baseline": lambda: run_baseline(FLAGS.case),
            "torch": lambda: run_torch(FLAGS.case, FLAGS.batch, FLAGS.limit),
            "bound": lambda: matmul_bound(FLAGS.case),
        }[FLAGS.variant]
        print(json.dumps(run()))
        return
    case = [f"--case={FLAGS.case}"]
    ours = [
        _child(case + ["--variant=eigjax", f"--precision={p}", f"--chunk={FLAGS.chunk}"])
        for p in FLAGS.precisions.split(",")
    ]
    base = [_baseline(FLAGS.case, FLAGS.baseline)] if FLAGS.baseline else []
    torch_runs = []
    if FLAGS.torch == "true":
        torch_runs = [
            _child(case + ["--variant=torch", "--batch=1", f"--limit={FLAGS.loop_limit}"]),
            _child(case + ["--variant=torch", f"--batch={FLAGS.batch}"]),
        ]
    bound = _child(case + ["--variant=bound"])
    print(f"case {FLAGS.case}; {os.cpu_count()} CPUs")
    for r in ours + base + torch_runs:
        extra = f"  compile {r['compile_s']:.0f} s" if "compile_s" in r else ""
        print(
            f"{r['variant']:<34} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_gib']:.2f} GiB"
            f"  click {r['click']}  best Dice {r['best_dice']}{extra}"
        )
    fastest_torch = min((r["seconds"] for r in torch_runs), default=None)
    print(
        f"matmul bound: {bound['macs_per_candidate'] / 1e9:.2f} GMAC per candidate at "
        f"{bound['gflops']:.0f} GFLOP/s → {bound['seconds']:.2f} s"
    )
    for r in ours:
        ratios = [f"{r['seconds'] / bound['seconds']:.2f}x the matmul bound"]
        if fastest_torch:
            ratios.append(f"{fastest_torch / r['seconds']:.2f}x faster than the faster torch")
        if base:
            ratios.append(
                f"{base[0]['seconds'] / r['seconds']:.2f}x faster than {base[0]['variant']}"
            )
        print(f"{r['variant']}: {', '.join(ratios)}")


if __name__ == "__main__":
    flags.DEFINE_string("case", "litemedsam:512", "MODEL:IMAGE_SIZE")
    flags.DEFINE_enum(
        "variant",
        None,
        ["eigjax", "baseline", "torch", "bound"],
        "one measurement (a child process)",
    )
    flags.DEFINE_string("precision", "highest", "the decoder's precision (--variant=eigjax)")
    flags.DEFINE_string("precisions", "highest", "precisions to measure, comma-separated")
    flags.DEFINE_integer("chunk", 0, "Oracle chunk; 0: from the device")
    flags.DEFINE_integer("batch", 10, "candidates per torch batch")
    flags.DEFINE_integer("limit", None, "candidates the torch loop runs (the rest extrapolated)")
    flags.DEFINE_integer("loop_limit", 60, "--limit of the one-at-a-time torch loop")
    flags.DEFINE_string("baseline", BASELINE, "git revision ('' to skip)")
    flags.DEFINE_string("torch", "true", "false: skip the PyTorch drivers")
    app.run(main)
