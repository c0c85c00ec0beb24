"""Exact EIG vs the paper's nested Monte Carlo (N=1024, M=32) on a 1024x1024 map, K=3.

  python -m benchmarks.eig_estimators

Prints both times (compile excluded), the ratio, and how far NMC lands from exact.
"""

import os
import time

import jax
import numpy as np

from eigjax import eig


def timed(fn, repeats):
    jax.block_until_ready(fn())  # Compile.
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best, out


def main(size=1024, k=3, n_outer=1024, n_inner=32):
    logits = 4 * jax.random.normal(jax.random.key(0), (k, size, size))
    probs = jax.nn.sigmoid(logits)
    exact_fn = jax.jit(eig.eig_exact)
    t_exact, exact = timed(lambda: exact_fn(probs), repeats=5)
    t_nmc, nmc = timed(lambda: eig.eig_nmc(jax.random.key(1), probs, n_outer, n_inner), repeats=1)
    err = np.abs(np.asarray(nmc) - np.asarray(exact))
    print(f"device {jax.devices()[0]}, {os.cpu_count()} CPUs; map {k}x{size}x{size}")
    print(f"eig_exact                 {t_exact * 1e3:10.1f} ms")
    print(f"eig_nmc N={n_outer} M={n_inner}   {t_nmc * 1e3:10.1f} ms")
    print(
        f"exact is {t_nmc / t_exact:.0f}x faster; |NMC - exact| mean {err.mean():.4f}, "
        f"max {err.max():.4f} nats (NMC's upward bias at M={n_inner} plus noise)"
    )


if __name__ == "__main__":
    main()
