"""Exponential moving average of generator weights (Karras et al. 2018; Yazici et al. 2019).

GAN weights oscillate around a good solution; their running average renders cleaner pictures than any single
step, so samples and exports use it. The decay ramps up as min(decay, (1 + t) / (10 + t)), so a short run's
average is not dominated by the random initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for avg, p in zip(self.shadow.parameters(), net.parameters(), strict=True):
            avg.lerp_(p.detach().to(avg.dtype), 1.0 - decay)
        for avg_b, b in zip(self.shadow.buffers(), net.buffers(), strict=True):
            avg_b.copy_(b)  # BatchNorm statistics and spectral-norm vectors follow the live network
