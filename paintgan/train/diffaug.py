"""Differentiable augmentation of discriminator inputs (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", 2020): with few pictures, a discriminator that sees them only through random
colour shifts, translations and cutouts cannot memorise them, and the generator still gets gradients through it.

Real and fake batches are augmented the same way (each sample its own draw). For a conditional discriminator
the condition channels move with the picture (translation, cutout) but keep their values (colour is for the
last three channels only). Draws come from the global torch RNG, which checkpoints save and restore.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _color(x: Tensor) -> Tensor:
    n = x.shape[0]
    rand = lambda: torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype)  # noqa: E731
    x = x + (rand() - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (rand() * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand() + 0.5) + mean  # contrast


def _translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + dy + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(ch, device=x.device), torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx[None] + ox - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, device=x.device, dtype=x.dtype)
    mask[torch.arange(n, device=x.device)[:, None, None], gy, gx] = 0
    return x * mask[:, None]


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Apply the comma-separated `policy` (color, translation, cutout) to a batch whose last 3 channels are RGB."""
    if not policy:
        return x
    for name in policy.split(","):
        if name == "color":
            x = torch.cat([x[:, :-3], _color(x[:, -3:])], 1)
        elif name == "translation":
            x = _translation(x)
        elif name == "cutout":
            x = _cutout(x)
    return x
