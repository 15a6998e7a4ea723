"""SGD with momentum, Nesterov and weight decay: torch.optim.SGD's update without its import cost.

Every step of `torch.optim` imports `torch._dynamo` (about 1.3 s on a laptop
core), which each training job would pay on top of `import torch`: a grid runs
thousands of jobs, and the start-up target is 3 s per job. This optimizer makes
the same update with the same tensor operations in the same order (tested
bit-equal to torch.optim.SGD on CPU), and reads and writes torch.optim.SGD's
`state_dict` layout, so a checkpoint moves between the two.

The learning rate is an attribute the engine sets before each step (the
schedule is the engine's); dampening and `maximize` are not offered.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SGD:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.params = [p for p in params if p.requires_grad]
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        # foreach: one kernel per operation for all tensors on a GPU; on a CPU the same per-tensor operations
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        params = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        if self.momentum:
            bufs = [self.momentum_buffers[i] for i in live]
            if all(b is not None for b in bufs):
                torch._foreach_mul_(bufs, self.momentum)
                torch._foreach_add_(bufs, grads)
            else:
                for k, i in enumerate(live):
                    if bufs[k] is None:
                        bufs[k] = self.momentum_buffers[i] = grads[k].detach().clone()
                    else:
                        bufs[k].mul_(self.momentum).add_(grads[k])
            grads = torch._foreach_add(grads, bufs, alpha=self.momentum) if self.nesterov else bufs
        torch._foreach_add_(params, grads, alpha=-self.lr)

    def state_dict(self) -> dict:
        """torch.optim.SGD's layout: per-parameter state keyed by position, and one parameter group."""
        return {
            "state": {i: {"momentum_buffer": b} for i, b in enumerate(self.momentum_buffers) if b is not None},
            "param_groups": [{
                "lr": self.lr, "momentum": self.momentum, "dampening": 0.0, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov, "maximize": False, "foreach": None, "differentiable": False,
                "fused": None, "params": list(range(len(self.params))),
            }],
        }

    def load_state_dict(self, state: dict) -> None:
        groups = state["param_groups"]
        n_saved = sum(len(g["params"]) for g in groups)
        if len(groups) != 1 or n_saved != len(self.params):
            raise ValueError(f"optimizer state holds {len(groups)} group(s) of {n_saved} parameters; "
                             f"this model has one group of {len(self.params)}")
        self.lr = float(groups[0]["lr"])
        self.momentum_buffers = [None] * len(self.params)
        for i, entry in state["state"].items():
            buf = entry.get("momentum_buffer")
            if buf is not None:
                p = self.params[int(i)]
                self.momentum_buffers[int(i)] = buf.to(device=p.device, dtype=p.dtype)
