"""Milliseconds per frame of each generator family, on the CPU, at a fixed thread count.

`python -m paintgan.families.timing [--threads 2] [--size 256]` prints the table quoted in the family modules.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SpadeConfig

# (label, family, config, input channels): upstream widths first, then PaintGAN's light and restyle settings.
CASES: list[tuple[str, str, Any, int]] = [
    ("pix2pix unet_256 ngf64 batch", "pix2pix", UnetConfig(), 3),
    ("cyclegan resnet 9 blocks ngf64", "cyclegan", ResnetConfig(), 3),
    ("ganilla resnet18-fpn ngf64", "ganilla", GanillaConfig(), 3),
    ("spade coco ngf64", "spade", SpadeConfig(), 184),
    ("spade ade20k ngf64", "spade", SpadeConfig(150, True, False), 151),
    ("light_spade default (11 labels)", "light_spade", LightSpadeConfig(), 11),
    ("light_unet default", "light_unet", LightUnetConfig(), 3),
    ("cyclegan restyle ngf16 6 blocks", "cyclegan", ResnetConfig(ngf=16, n_blocks=6), 3),
    ("cyclegan restyle ngf32 6 blocks", "cyclegan", ResnetConfig(ngf=32, n_blocks=6), 3),
]


def frame_ms(family: str, config: Any, channels: int, size: int = 256, repeats: int = 10) -> float:
    """Best wall time of one forward pass on one size x size frame, after one warm-up pass.

    The best, not the median: on a shared machine the other processes only ever add time.
    """
    net = get_family(family).build(config).eval()
    x = torch.zeros(1, channels, size, size)
    x[:, 0] = 1.0  # a valid one-hot for label families; a flat grey-ish image for the others
    times = []
    with torch.inference_mode():
        net(x)
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default="", help="run only cases whose label contains this text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"ms per {args.size}x{args.size} frame, {args.threads} threads, torch {torch.__version__}")
    for label, family, config, channels in CASES:
        if args.only in label:
            params = sum(p.numel() for p in get_family(family).build(config).parameters()) / 1e6
            ms = frame_ms(family, config, channels, args.size, args.repeats)
            print(f"{label:36s} {ms:9.1f} ms  {params:7.2f} M params", flush=True)


if __name__ == "__main__":
    main()
