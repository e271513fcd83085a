"""k-nearest-neighbour manifolds: precision and recall (Kynkaanniemi et al. 2019), and the radii and ball counts
density/coverage (twosample.py) share with them.

Euclidean distances in float64 where `functional.torch64` puts the features, in row blocks of `block` to bound
memory. The k-NN radii of the reference set depend on it alone: an evaluator computes them once per reference
(`metrics.reference.Reference.knn_radius2`) and passes them in. Counts stay on the device until one read at the end.
"""

from __future__ import annotations

import numpy as np
import torch

from ganbench.metrics.functional import torch64_pair


def precision_recall(
    gen: np.ndarray | torch.Tensor,
    real: np.ndarray | torch.Tensor,
    k: int = 3,
    block: int = 1024,
    real_radius2: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Improved precision and recall, k-nearest-neighbour manifolds.

    Each set's manifold is the union of balls centred on its samples, with radius the distance to the sample's k-th
    nearest neighbour in its own set. precision = fraction of generated samples inside the real manifold;
    recall = fraction of real samples inside the generated manifold. Which features (here: Inception pool3, not
    the paper's VGG16) is the caller's protocol. real_radius2: knn_radius2(real, k), when the caller keeps it.
    """
    g, r = torch64_pair(gen, real)
    if min(g.shape[0], r.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    r_real = knn_radius2(r, k, block) if real_radius2 is None else real_radius2.to(r.device)
    r_gen = knn_radius2(g, k, block)
    hits = torch.stack([inside(g, r, r_real, block).sum(), inside(r, g, r_gen, block).sum()])
    precision_hits, recall_hits = hits.tolist()  # one host read
    return precision_hits / g.shape[0], recall_hits / r.shape[0]


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) squared Euclidean distances between the rows of a (n, D) and b (m, D), clipped at 0."""
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2.0 * a @ b.T).clamp_(min=0.0)


def knn_radius2(x: torch.Tensor, k: int, block: int = 1024) -> torch.Tensor:
    """Squared distance from each row to its k-th nearest other row (the row itself is the 0-th)."""
    out = []
    for start in range(0, x.shape[0], block):
        d2 = sq_dist(x[start : start + block], x)
        rows = torch.arange(d2.shape[0], device=x.device)
        d2[rows, rows + start] = 0.0  # exact zero on the diagonal, whatever the round-off
        out.append(d2.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def inside(query: torch.Tensor, centres: torch.Tensor, radius2: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """(n,) bool: whether each query row lies in some centre's ball (squared radii `radius2`), on the device."""
    return torch.cat(
        [(sq_dist(query[s : s + block], centres) <= radius2[None]).any(dim=1) for s in range(0, query.shape[0], block)]
    )
