"""Cost of one frame for each generator family on the CPU: multiply-adds, CPU time and wall time.

`python -m paintgan.families.timing [--threads 2] [--size 256] [--repeats 10] [--only TEXT]` prints the table quoted
in the family modules. Three figures per row, because a shared machine distorts wall time:
* GMAC: multiply-adds of one forward pass (exact, machine-independent);
* cpu ms: CPU time of one forward pass on ONE thread, read from the thread's own CPU clock, so time spent waiting
  for other processes does not count; on an idle machine, 1-thread wall time equals it;
* wall ms: best wall time at `--threads` threads; meaningful only on an otherwise idle machine.
On a busy machine run it with OMP_WAIT_POLICY=PASSIVE: spinning OpenMP workers otherwise wait out every other
process's time slice at each barrier (measured here: light_spade 126 ms spinning, 28 ms passive, same load).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

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
    ("light_spade default (11 labels)", "light_spade", LightSpadeConfig(), 11),
    ("light_unet default (1-ch sketch)", "light_unet", LightUnetConfig(input_nc=1), 1),
    ("cyclegan restyle ngf16 6 blocks", "cyclegan", ResnetConfig(ngf=16, n_blocks=6), 3),
    ("cyclegan restyle ngf32 6 blocks", "cyclegan", ResnetConfig(ngf=32, n_blocks=6), 3),
    ("ganilla restyle half width", "ganilla", GanillaConfig(ngf=32, widths=(32, 64, 64, 128), fpn_size=64), 3),
]


def _frame(family: str, config: Any, channels: int, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    net = get_family(family).build(config).eval()
    x = torch.zeros(1, channels, size, size)
    x[:, 0] = 1.0  # a valid one-hot for label families, a flat picture for the others
    return net, x


def _best(run: Callable[[], object], clock: Callable[[], float], repeats: int) -> float:
    with torch.inference_mode():
        run()  # warm-up: oneDNN builds its kernels on the first call
        times = []
        for _ in range(repeats):
            start = clock()
            run()
            times.append(clock() - start)
    return 1000 * min(times)


def frame_gmac(family: str, config: Any, channels: int, size: int = 256) -> float:
    net, x = _frame(family, config, channels, size)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / 2e9


def frame_cpu_ms(family: str, config: Any, channels: int, size: int = 256, repeats: int = 5) -> float:
    """CPU time of one forward pass on one thread (best of `repeats`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net, x = _frame(family, config, channels, size)
        return _best(lambda: net(x), time.thread_time, repeats)
    finally:
        torch.set_num_threads(threads)


def frame_wall_ms(family: str, config: Any, channels: int, size: int = 256, repeats: int = 5) -> float:
    """Wall time of one forward pass at the current thread count (best of `repeats`)."""
    net, x = _frame(family, config, channels, size)
    return _best(lambda: net(x), time.perf_counter, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default="", help="run only cases whose label contains this text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"per {args.size}x{args.size} frame, torch {torch.__version__}, wall at {args.threads} threads")
    print(f"{'model':36s} {'params':>8s} {'GMAC':>7s} {'cpu ms':>8s} {'wall ms':>8s}")
    for label, family, config, channels in CASES:
        if args.only not in label:
            continue
        params = sum(p.numel() for p in get_family(family).build(config).parameters()) / 1e6
        # The big upstream nets take seconds a frame; a few repeats are enough there.
        repeats = args.repeats if params < 5 else min(args.repeats, 3)
        gmac = frame_gmac(family, config, channels, args.size)
        cpu = frame_cpu_ms(family, config, channels, args.size, repeats)
        wall = frame_wall_ms(family, config, channels, args.size, repeats)
        print(f"{label:36s} {params:7.2f}M {gmac:7.2f} {cpu:8.1f} {wall:8.1f}", flush=True)


if __name__ == "__main__":
    main()
