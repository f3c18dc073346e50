"""PatchGAN discriminators (pix2pix), stacked over scales (pix2pixHD / SPADE).

A discriminator returns a list over scales of lists of feature maps, the last map of each being the patch
logits; the intermediate maps feed the feature-matching loss.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    return nn.Identity()


class PatchGAN(nn.Module):
    """`n_layers` stride-2 4x4 convs, one stride-1 conv, then 1-channel patch logits (3 layers: 70x70 patches)."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        bias = norm != "batch"  # BatchNorm's shift makes a conv bias redundant (as upstream)
        blocks: list[nn.Sequential] = [nn.Sequential(nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))]
        channels = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, 4, stride, 1, bias=bias), _norm(norm, out), nn.LeakyReLU(0.2, True)
                )
            )
            channels = out
        blocks.append(nn.Sequential(nn.Conv2d(channels, 1, 4, 1, 1)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiScale(nn.Module):
    """The same PatchGAN design at full, half, quarter ... resolution; coarse scales judge global layout."""

    def __init__(self, input_nc: int, scales: int, **kwargs: object) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchGAN(input_nc, **kwargs) for _ in range(scales))  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        outputs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(d(x))
        return outputs


def build_discriminator(input_nc: int, *, ndf: int, n_layers: int, scales: int, norm: str) -> MultiScale:
    return MultiScale(input_nc, scales, ndf=ndf, n_layers=n_layers, norm=norm)
