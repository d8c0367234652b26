"""The loss file of ``benchmarks/data/tanh221_autograd.py`` written with ``jax.numpy``: 3 cyclic
batches of a 2-2-1 tanh net (6 parameters: W 2x2, v 2), squared error, the same data.  Used by
``benchmarks/bench_loss_file.py`` (needs the ``bea-check[jax]`` extra)."""

import jax.numpy as jnp
import numpy as np

_rng = np.random.default_rng(0)
_X = _rng.normal(size=(3, 4, 2))
_Y = np.sin(_X.sum(axis=2))


def _batch(b):
    X, Y = _X[b], _Y[b]

    def loss(theta):
        W, v = jnp.reshape(theta[:4], (2, 2)), theta[4:]
        r = jnp.tanh(X @ W) @ v - Y
        return 0.5 * jnp.mean(r**2)

    return loss


LOSSES = [_batch(b) for b in range(3)]
THETA0 = [0.3, -0.2, 0.1, 0.4, 0.5, -0.3]
