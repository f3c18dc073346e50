"""Data-parallel training under `torchrun`: process group set-up, gradient averaging, rank-0 duties.

`torchrun --nproc_per_node=K -m paintgan train ...` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
address; `init()` joins the group (NCCL when every rank has its own GPU, else gloo) and returns the rank's view.

Gradients are averaged with explicit all-reduces after each backward pass instead of through
`DistributedDataParallel` wrappers. It is the same arithmetic (DDP also all-reduces the mean gradient; every rank
then takes the same optimiser step from the same weights), but a GAN step forwards a network several times before
one backward (CycleGAN runs each generator twice, WGAN-GP differentiates the critic twice, the generator step
reads a frozen discriminator), which DDP's one-forward-one-backward hooks reject or silently mis-count. Buffers
(BatchNorm statistics, spectral-norm vectors) are copied from rank 0 after every step, as DDP's
`broadcast_buffers` does, so all ranks hold identical networks at every step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

BUCKET_BYTES = 25 * 1024 * 1024  # DDP's default bucket size


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device_kind: str) -> Dist:
    """Join the process group torchrun describes; a plain single process gets `Dist()` and no group."""
    if not launched():
        return Dist()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Dist(rank, world, local)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def _buckets(tensors: list[torch.Tensor]) -> Iterable[list[torch.Tensor]]:
    bucket: list[torch.Tensor] = []
    size = 0
    for t in tensors:
        if bucket and (size + t.numel() * t.element_size() > BUCKET_BYTES or t.dtype != bucket[0].dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel() * t.element_size()
    if bucket:
        yield bucket


def average_gradients(d: Dist, modules: Iterable[nn.Module]) -> None:
    """Replace every gradient by its mean over ranks (a parameter without one counts as zero on that rank)."""
    if not d.enabled:
        return
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for bucket in _buckets([p.grad for p in params]):  # type: ignore[misc]
        flat = _flatten_dense_tensors(bucket)
        dist.all_reduce(flat)
        flat /= d.world
        for grad, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
            grad.copy_(synced)


def broadcast_state(d: Dist, modules: Iterable[nn.Module], buffers_only: bool = False) -> None:
    """Copy rank 0's parameters and/or buffers to every rank (start of a run; buffers after each step)."""
    if not d.enabled:
        return
    tensors: list[torch.Tensor] = []
    for m in modules:
        if not buffers_only:
            tensors += [p.data for p in m.parameters()]
        tensors += [b for b in m.buffers() if b.is_floating_point() or b.dtype in (torch.int64, torch.int32)]
    for bucket in _buckets(tensors):
        flat = _flatten_dense_tensors(bucket)
        dist.broadcast(flat, 0)
        for t, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
            t.copy_(synced)


def mean_scalars(d: Dist, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Metrics averaged over ranks, so rank 0 logs the whole batch, not its shard."""
    if not d.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / d.world for k, v in zip(keys, t.tolist(), strict=True)}
