"""Training objectives: adversarial losses, gradient penalty, feature matching, perceptual loss, image pool.

Discriminator outputs are lists over scales of lists of feature maps, the last of each being the patch logits
(see `discriminators`), so every loss here works for one PatchGAN and for a multi-scale stack alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.train.features import FeatureNet

Outputs = list[list[Tensor]]


def _logits(outputs: Outputs) -> list[Tensor]:
    return [scale[-1] for scale in outputs]


class GANLoss:
    """vanilla (BCE on logits, pix2pix), lsgan (least squares, CycleGAN), hinge (SPADE), wgangp (critic)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def _one(self, logits: Tensor, real: bool) -> Tensor:
        if self.mode == "vanilla":
            target = torch.ones_like(logits) if real else torch.zeros_like(logits)
            return F.binary_cross_entropy_with_logits(logits.float(), target.float())
        if self.mode == "lsgan":
            return F.mse_loss(logits.float(), torch.full_like(logits.float(), 1.0 if real else 0.0))
        return -logits.float().mean() if real else logits.float().mean()

    def discriminator(self, real: Outputs, fake: Outputs) -> Tensor:
        losses = []
        for r, f in zip(_logits(real), _logits(fake), strict=True):
            if self.mode == "hinge":
                losses.append(F.relu(1.0 - r.float()).mean() + F.relu(1.0 + f.float()).mean())
            else:
                losses.append(self._one(r, True) + self._one(f, False))
        return torch.stack(losses).mean() * (0.5 if self.mode in ("vanilla", "lsgan") else 1.0)

    def generator(self, fake: Outputs) -> Tensor:
        return torch.stack([self._one(f, True) for f in _logits(fake)]).mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP: (|grad D(x)| - 1)^2 at random points between real and fake inputs (Gulrajani et al. 2017)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    outputs = _logits(critic(mixed))
    grads = torch.autograd.grad([o.float().sum() for o in outputs], mixed, create_graph=True)[0]
    return ((grads.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def feature_matching(real: Outputs, fake: Outputs) -> Tensor:
    """L1 between the discriminator's intermediate features on real and fake (pix2pixHD), averaged over scales."""
    total = fake[0][0].new_zeros((), dtype=torch.float32)
    for r_scale, f_scale in zip(real, fake, strict=True):
        for r, f in zip(r_scale[:-1], f_scale[:-1], strict=True):
            total = total + F.l1_loss(f.float(), r.detach().float())
    return total / len(fake)


class PerceptualLoss(nn.Module):
    """Weighted L1 between feature maps of a frozen network; deeper layers weigh more, as in SPADE's VGG loss."""

    WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, features: FeatureNet) -> None:
        super().__init__()
        self.features = features

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        f_fake, f_real = self.features(fake), self.features(real)
        return sum(
            (w * F.l1_loss(a.float(), b.detach().float()) for w, a, b in zip(self.WEIGHTS, f_fake, f_real, strict=True)),
            start=fake.new_zeros((), dtype=torch.float32),
        )


class ImagePool:
    """CycleGAN's history of generated pictures: the discriminator sees old fakes half the time (Shrivastava 2017).

    Draws from the global torch RNG, and its contents are part of a checkpoint, so a resumed run draws the same.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[Tensor] = []

    def query(self, batch: Tensor) -> Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(())) < 0.5:
                slot = int(torch.randint(self.size, ()))
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Tensor]:
        return {"images": torch.cat(self.images, 0).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device) -> None:
        images = state["images"]
        self.images = [im[None].to(device) for im in images] if images.numel() else []
