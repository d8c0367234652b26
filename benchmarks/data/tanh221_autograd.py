"""A loss file as a user writes it: 3 cyclic batches of a 2-2-1 tanh net (6 parameters: W 2x2,
v 2), squared error, in ``autograd.numpy``.  Used by ``benchmarks/bench_loss_file.py``."""

import autograd.numpy as np

_rng = __import__("numpy").random.default_rng(0)
_X = _rng.normal(size=(3, 4, 2))
_Y = __import__("numpy").sin(_X.sum(axis=2))


def _batch(b):
    X, Y = _X[b], _Y[b]

    def loss(theta):
        W, v = np.reshape(theta[:4], (2, 2)), theta[4:]
        r = np.tanh(X @ W) @ v - Y
        return 0.5 * np.mean(r**2)

    return loss


LOSSES = [_batch(b) for b in range(3)]
THETA0 = [0.3, -0.2, 0.1, 0.4, 0.5, -0.3]
