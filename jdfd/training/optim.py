"""The Trainer's optimiser: Adam, in one fused pass over all tensors where jdfd's kernels run.

Jittor's ``jt.nn.Adam`` builds several operators per parameter tensor on every step (the
weight-decay term, the two moments, the update); with a few hundred tensors that is about
twice PyTorch's Adam time. :class:`FusedAdam` keeps ``jt.nn.Adam``'s state (``param_groups``
with ``m`` and ``values``, ``n_step``), so checkpoints and MPI's gradient all-reduce stay as
they are, and replaces the update by one ``dfd_adam`` operator per parameter group.
"""

from __future__ import annotations

from jdfd.runtime import jittor

jt = jittor()


class FusedAdam(jt.nn.Adam):
    """``jt.nn.Adam`` with the update of each parameter group in one multi-threaded ``dfd_adam`` pass.

    ``ops`` is the compiled kernel module (``jdfd.kernels.load()``). Same formula and float32
    arithmetic as ``jt.nn.Adam``; results differ only by rounding (``tests/test_kernels.py``).
    """

    def __init__(self, params, lr: float, ops, eps: float = 1e-8, betas: tuple = (0.9, 0.999),
                 weight_decay: float = 0.0):
        super().__init__(params, lr, eps=eps, betas=betas, weight_decay=weight_decay)
        self.ops = ops

    def step(self, loss=None, retain_graph: bool = False) -> None:
        self.pre_step(loss, retain_graph)  # gradients (all-reduced under MPI), n_step += 1
        for pg in self.param_groups:
            live = [i for i, p in enumerate(pg["params"]) if not p.is_stop_grad()]
            b1, b2 = pg.get("betas", self.betas)
            for chunk in _chunks(live, [pg["params"][i].numel() * 4 for i in live], ADAM_CHUNK_BYTES):
                outs = self.ops.dfd_adam(
                    *([pg[key][i] for i in chunk] for key in ("params", "grads", "m", "values")),
                    float(pg.get("lr", self.lr)), float(b1), float(b2), float(pg.get("eps", self.eps)),
                    float(pg.get("weight_decay", self.weight_decay)), int(self.n_step))
                n = len(chunk)
                for j, i in enumerate(chunk):
                    pg["params"][i].update(outs[j])
                    pg["m"][i].update(outs[n + j])
                    pg["values"][i].update(outs[2 * n + j])
        self.post_step()


#: Bytes of parameters one ``dfd_adam`` pass updates. The op writes new weights and moments
#: beside the old ones, which are freed once it has run: over all tensors at once that is three
#: extra copies of every trained weight (+3 GB for the paper model's stage I), over chunks of
#: this size three copies of one chunk.
ADAM_CHUNK_BYTES = 32 << 20


def _chunks(items: list[int], sizes: list[int], limit: int) -> list[list[int]]:
    """``items`` in order, cut into runs of at most ``limit`` bytes (a larger tensor alone)."""
    out: list[list[int]] = []
    total = 0
    for item, size in zip(items, sizes):
        if not out or total + size > limit:
            out.append([])
            total = 0
        out[-1].append(item)
        total += size
    return out


def adam(params, lr: float, betas: tuple, ops=None):
    """The Trainer's Adam: :class:`FusedAdam` with jdfd's kernels (``ops``: ``jdfd.kernels.load().ops``),
    or Jittor's own where they are ``None``."""
    if ops is not None:
        return FusedAdam(params, lr, ops, betas=betas)
    return jt.nn.Adam(params, lr, betas=betas)
