"""One training step for paired data (pix2pix / SPADE / distillation) and for unpaired data (CycleGAN / GANILLA).

Both follow their papers' step order: paired updates D on (input, fake) vs (input, real) pairs, then G on the
adversarial loss plus L1 / feature matching / perceptual terms; unpaired updates both generators on adversarial,
cycle and identity losses, then both discriminators on pool-drawn fakes. Gradients are averaged over ranks
before every optimiser step (see `ddp`), so all processes take identical steps.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from paintgan.train.config import TrainConfig
from paintgan.train.ddp import Dist, average_gradients
from paintgan.train.diffaug import diff_augment
from paintgan.train.losses import GANLoss, ImagePool, Outputs, PerceptualLoss, feature_matching, gradient_penalty
from paintgan.train.nets import InputSpec


@dataclass
class StepContext:
    config: TrainConfig
    dist: Dist
    device: torch.device
    amp_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler
    perceptual: PerceptualLoss | None

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def update(self, loss: Tensor, optimizer: Optimizer, modules: Iterable[nn.Module]) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(self.dist, modules)
        self.scaler.step(optimizer)
        self.scaler.update()


def _frozen(nets: Iterable[nn.Module]) -> contextlib.AbstractContextManager[None]:
    """No parameter gradients for `nets` inside (the G step reads D but must not train it)."""

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        params = [p for n in nets for p in n.parameters()]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    return scope()


def _value(t: Tensor) -> float:
    return float(t.detach())


def _split(outputs: Outputs, n: int) -> tuple[Outputs, Outputs]:
    first = [[f[:n] for f in scale] for scale in outputs]
    second = [[f[n:] for f in scale] for scale in outputs]
    return first, second


def adam(params: Iterable[nn.Parameter], lr: float, c: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(c.beta1, c.beta2))


class PairedObjective:
    """G(x) should look like y to a conditional D that sees (x, image) pairs, and be close to y."""

    def __init__(self, ctx: StepContext, inputs: InputSpec, generator: nn.Module, discriminator: nn.Module) -> None:
        c = ctx.config
        self.ctx, self.inputs, self.gan = ctx, inputs, GANLoss(c.gan_mode)
        self.generators = {"G": generator}
        self.discriminators = {"D": discriminator}
        self.optimizers = {"G": adam(generator.parameters(), c.lr_g, c), "D": adam(discriminator.parameters(), c.lr_d, c)}
        self.pools: dict[str, ImagePool] = {}

    def generate(self, source: Tensor, generator: nn.Module | None = None) -> Tensor:
        return (generator or self.generators["G"])(self.inputs.encode(source))

    def step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        ctx, c = self.ctx, self.ctx.config
        G, D = self.generators["G"], self.discriminators["D"]
        x = self.inputs.encode(batch["source"].to(ctx.device, non_blocking=True))
        y = batch["target"].to(ctx.device, non_blocking=True)
        n = x.shape[0]
        with ctx.autocast():
            fake = G(x)
            real_pair = torch.cat([x, y], 1)
            fake_pair = torch.cat([x, fake.detach()], 1)
            fake_out, real_out = _split(D(diff_augment(torch.cat([fake_pair, real_pair]), c.diffaug)), n)
            d_loss = self.gan.discriminator(real_out, fake_out)
        metrics = {"D": _value(d_loss)}
        if c.gan_mode == "wgangp":
            gp = gradient_penalty(D, real_pair, fake_pair)
            d_loss = d_loss + c.lambda_gp * gp
            metrics["GP"] = _value(gp)
        ctx.update(d_loss, self.optimizers["D"], [D])

        with _frozen([D]), ctx.autocast():
            fake_pair = torch.cat([x, fake], 1)
            if c.lambda_fm > 0:
                fake_out, real_out = _split(D(diff_augment(torch.cat([fake_pair, real_pair]), c.diffaug)), n)
            else:
                fake_out = D(diff_augment(fake_pair, c.diffaug))
            g_gan = self.gan.generator(fake_out)
            l1 = F.l1_loss(fake.float(), y.float())
            g_loss = g_gan + c.lambda_l1 * l1
            metrics.update(G_gan=_value(g_gan), L1=_value(l1))
            if c.lambda_fm > 0:
                fm = feature_matching(real_out, fake_out)
                g_loss = g_loss + c.lambda_fm * fm
                metrics["FM"] = _value(fm)
            if c.lambda_perceptual > 0 and ctx.perceptual is not None:
                perceptual = ctx.perceptual(fake, y)
                g_loss = g_loss + c.lambda_perceptual * perceptual
                metrics["perceptual"] = _value(perceptual)
        ctx.update(g_loss, self.optimizers["G"], [G])
        metrics["G"] = _value(g_loss)
        return metrics


class SegmentObjective:
    """G(sketch) gives one logit per class, trained by cross-entropy against the label map.

    No discriminator: a label map has one right class per pixel (up to what the lines leave open), and the
    painter that turns the map into a picture was trained adversarially already.
    """

    def __init__(self, ctx: StepContext, generator: nn.Module, ignore_index: int) -> None:
        self.ctx, self.ignore_index = ctx, ignore_index
        self.generators = {"G": generator}
        self.discriminators: dict[str, nn.Module] = {}
        self.optimizers = {"G": adam(generator.parameters(), ctx.config.lr_g, ctx.config)}
        self.pools: dict[str, ImagePool] = {}

    def generate(self, source: Tensor, generator: nn.Module | None = None) -> Tensor:
        return (generator or self.generators["G"])(source)

    def step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        ctx, G = self.ctx, self.generators["G"]
        x = batch["source"].to(ctx.device, non_blocking=True)
        y = batch["target"].to(ctx.device, non_blocking=True)
        with ctx.autocast():
            logits = G(x)
        loss = F.cross_entropy(logits.float(), y, ignore_index=self.ignore_index)
        ctx.update(loss, self.optimizers["G"], [G])
        known = y != self.ignore_index
        accuracy = (logits.detach().argmax(1) == y)[known].float().mean()
        return {"CE": _value(loss), "accuracy": _value(accuracy), "G": _value(loss)}


class UnpairedObjective:
    """G_A: A -> B and G_B: B -> A, each judged by a D of its target domain and tied by cycle consistency."""

    def __init__(self, ctx: StepContext, generators: tuple[nn.Module, nn.Module], discriminators: tuple[nn.Module, nn.Module]) -> None:
        c = ctx.config
        self.ctx, self.gan = ctx, GANLoss(c.gan_mode)
        self.generators = {"G_A": generators[0], "G_B": generators[1]}
        self.discriminators = {"D_A": discriminators[0], "D_B": discriminators[1]}
        g_params = itertools.chain(*(g.parameters() for g in generators))
        d_params = itertools.chain(*(d.parameters() for d in discriminators))
        self.optimizers = {"G": adam(g_params, c.lr_g, c), "D": adam(d_params, c.lr_d, c)}
        self.pools = {"A": ImagePool(c.pool_size), "B": ImagePool(c.pool_size)}

    def generate(self, source: Tensor, generator: nn.Module | None = None) -> Tensor:
        return (generator or self.generators["G_A"])(source)

    def _d_loss(self, D: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, float | None]:
        c = self.ctx.config
        fake_out, real_out = _split(D(diff_augment(torch.cat([fake, real]), c.diffaug)), fake.shape[0])
        loss = self.gan.discriminator(real_out, fake_out)
        if c.gan_mode != "wgangp":
            return loss, None
        gp = gradient_penalty(D, real, fake)
        return loss + c.lambda_gp * gp, _value(gp)

    def step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        ctx, c = self.ctx, self.ctx.config
        G_A, G_B = self.generators["G_A"], self.generators["G_B"]
        D_A, D_B = self.discriminators["D_A"], self.discriminators["D_B"]
        real_A = batch["source"].to(ctx.device, non_blocking=True)
        real_B = batch["target"].to(ctx.device, non_blocking=True)
        with _frozen([D_A, D_B]), ctx.autocast():
            fake_B, fake_A = G_A(real_A), G_B(real_B)
            rec_A, rec_B = G_B(fake_B), G_A(fake_A)
            g_A = self.gan.generator(D_A(diff_augment(fake_B, c.diffaug)))
            g_B = self.gan.generator(D_B(diff_augment(fake_A, c.diffaug)))
            cycle = F.l1_loss(rec_A.float(), real_A.float()) + F.l1_loss(rec_B.float(), real_B.float())
            g_loss = g_A + g_B + c.lambda_cycle * cycle
            metrics = {"G_A": _value(g_A), "G_B": _value(g_B), "cycle": _value(cycle)}
            if c.lambda_identity > 0:
                identity = F.l1_loss(G_A(real_B).float(), real_B.float()) + F.l1_loss(G_B(real_A).float(), real_A.float())
                g_loss = g_loss + c.lambda_cycle * c.lambda_identity * identity
                metrics["identity"] = _value(identity)
        ctx.update(g_loss, self.optimizers["G"], [G_A, G_B])
        metrics["G"] = _value(g_loss)

        with ctx.autocast():
            d_A, gp_A = self._d_loss(D_A, real_B, self.pools["B"].query(fake_B.detach()))
            d_B, gp_B = self._d_loss(D_B, real_A, self.pools["A"].query(fake_A.detach()))
        ctx.update(d_A + d_B, self.optimizers["D"], [D_A, D_B])
        metrics.update(D_A=_value(d_A), D_B=_value(d_B))
        if gp_A is not None and gp_B is not None:
            metrics["GP"] = (gp_A + gp_B) / 2
        return metrics


Objective = PairedObjective | UnpairedObjective | SegmentObjective
