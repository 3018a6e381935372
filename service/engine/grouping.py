"""Where to cut a batch of texts, sorted by length, into forward passes of least total cost."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Cost of one forward pass over n texts padded to length L, in units of one token-step:
#   FIXED + L * (PER_STEP + n)
# A pass costs as much as a couple of hundred padded token-steps before it starts, and each time
# step about two token-steps more than its tokens. Splitting a batch pays these again; padding
# pays for every padded position. The split that minimises the sum is found exactly (groups()).
# `python -m benchmarks.grouping` fits the two on the bundled network (hidden 256, bf16, one
# torch thread, 2-core AMX CPU): FIXED 208-230 and PER_STEP 1.86-1.93 over two runs, the fit
# within 33% of every pass. The values below come from an earlier such fit; under the new one,
# the groups they choose for batches of 64 IMDB texts (long, short, half and half) cost at most
# 2% more than the groups the new values would choose.
FIXED_COST = 150.0
PER_STEP_COST = 1.5


def groups(
    lengths: Sequence[int], fixed: float = FIXED_COST, per_step: float = PER_STEP_COST
) -> list[int]:
    """Where to cut texts sorted by length into batches of least total cost.

    lengths must be sorted ascending; returns the end index of each group (the last is len).
    Dynamic programming over contiguous groups: best[j] = min_i best[i] + cost(i..j).
    """
    n = len(lengths)
    if n == 0:
        return []
    lens = np.asarray(lengths, dtype=np.float64)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        starts = np.arange(j)  # group = texts[i:j], its longest is lens[j - 1]
        costs = best[:j] + fixed + lens[j - 1] * (per_step + (j - starts))
        cut[j] = int(np.argmin(costs))
        best[j] = costs[cut[j]]
    ends = []
    j = n
    while j > 0:
        ends.append(j)
        j = int(cut[j])
    return ends[::-1]
