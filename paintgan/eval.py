"""Measuring a model on a data folder: `paintgan eval --model M --data DIR`.

Every item is resized (shorter side = `size`) and cropped to `size` x `size` the same way each time, rendered through
`paintgan.render` as the app renders it, and compared:

- paired data (a label map, sketch or picture with its true picture): L1 and PSNR (on 0..1 pixels), SSIM (11 px
  Gaussian window, on luma), and a Fréchet distance between the feature statistics of real and rendered pictures.
  Features are the 4x4-pooled fourth stage of the offline feature network (`paintgan.train.features`; VGG19 if
  set up, else the seeded random network; the report names it). Each picture gives 16 feature vectors, so a
  small folder still gives a usable estimate; numbers are comparable only at equal `size`, network and folder.
- label models, additionally, class consistency: a linear classifier is trained on feature + colour descriptors
  of 16 px patches of the real pictures, labelled with the class covering them; the score is the share of
  rendered patches it assigns to the class painted there (its accuracy on held-out real patches is reported
  beside it as the ceiling).
- restyles (image models on A/+B/ folders, or with a style folder): style distance, the mean over four feature
  stages of the Frobenius distance between a picture's Gram matrix and the style set's mean Gram matrix (for the
  outputs, and for the untouched inputs as the baseline), and content preservation, the SSIM between Sobel edge
  maps of input and output.
- restyles of the app's own renders (`--halo-maps MAP... --painter LABEL_MODEL`): the painter renders each label
  map as the app would, the restyle restyles that, and `render_halo` is how much darker the restyle makes the
  sky in a ring 3-10 px (at 256 px) around each cloud than open sky 25+ px away, beyond what the render itself
  shows, in 0..255 levels (mean over the maps, `render_halo_max` the worst). A teacher-distilled restyle
  learns its teacher's dark rings around bright shapes, which no painter painted; 0 is none.
- staged sketch models on a folder with `labels/`, additionally, how well the lines are read: pixel accuracy,
  mean IoU and each class's IoU of the label map the segmenter reads, once from the folder's drawn sketches
  (`drawn_*`) and once from outlines drawn from the true maps (`outlined_*`, `paintgan.sketch.outline_labels`,
  seeded). A closed cloud or tree crown that does not fill shows as a low IoU of that class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from paintgan.errors import DataError
from paintgan.labels import LabelSet, read_labelset
from paintgan.models import Model, load_model
from paintgan.render import Renderer
from paintgan.train.data import DataSpec, TrainingSet, check_data, find_layout, list_images, source_array
from paintgan.train.features import FeatureNet, load_feature_net

PATCH = 16
MIN_PATCH_PURITY = 0.9
LUMA = (0.299, 0.587, 0.114)


@dataclass
class EvalReport:
    model: str
    data: str
    items: int
    feature_net: str
    metrics: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        head = [f"model {self.model}", f"data {self.data} ({self.items} items)", f"feature network {self.feature_net}"]
        return head + [f"{k} {v:.4f}" for k, v in self.metrics.items()]


# ------------------------------------------------------------------------------------------------ measures


def _luma(x: Tensor) -> Tensor:
    """N x 3 x H x W in [0, 1] -> N x 1 x H x W."""
    w = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM per image of single-channel N x 1 x H x W images in [0, 1] (Wang et al. 2004 constants)."""
    coords = torch.arange(11, dtype=a.dtype) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).view(1, 1, 11, 11)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, window)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def sobel(x: Tensor) -> Tensor:
    """Edge magnitude of N x 1 x H x W, scaled to [0, 1] per image."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype).view(1, 1, 3, 3)
    gx = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), kx)
    gy = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), kx.transpose(2, 3))
    mag = torch.sqrt(gx**2 + gy**2)
    return mag / mag.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1, 1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64, for rows of samples."""
    a64, b64 = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    s_a, s_b = torch.cov(a64.T), torch.cov(b64.T)
    vals, vecs = torch.linalg.eigh(s_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ s_b @ root_a).clamp_min(0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * middle)


def _unit(x: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x.float() + 1) / 2


def feature_vectors(net: FeatureNet, pictures: Tensor) -> np.ndarray:
    """(N*16) x C: the fourth stage pooled to a 4 x 4 grid, every cell one sample."""
    with torch.no_grad():
        f = F.adaptive_avg_pool2d(net(pictures)[3], 4)
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).numpy()


def gram(f: Tensor) -> Tensor:
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_distance(net: FeatureNet, pictures: Tensor, style_grams: list[Tensor]) -> float:
    with torch.no_grad():
        feats = net(pictures)[:4]
    per_layer = [(gram(f) - g[None]).flatten(1).norm(dim=1) for f, g in zip(feats, style_grams, strict=True)]
    return float(torch.stack(per_layer).mean())


def mean_grams(net: FeatureNet, pictures: Tensor) -> list[Tensor]:
    with torch.no_grad():
        return [gram(f).mean(0) for f in net(pictures)[:4]]


# ----------------------------------------------------------------------------------- class consistency


def _patch_descriptors(net: FeatureNet, pictures: Tensor) -> Tensor:
    """Per 16 px patch: colour mean and spread plus the second feature stage pooled to the patch grid."""
    with torch.no_grad():
        feats = net(pictures)[1]
    rows, cols = pictures.shape[2] // PATCH, pictures.shape[3] // PATCH
    pooled = F.adaptive_avg_pool2d(feats, (rows, cols))
    colour = F.avg_pool2d(_unit(pictures), PATCH)
    spread = (F.avg_pool2d(_unit(pictures) ** 2, PATCH) - colour**2).clamp_min(0).sqrt()
    d = torch.cat([pooled, colour * 4, spread * 4], 1)  # colour weighed up: it is most of what tells classes apart
    return d.permute(0, 2, 3, 1).reshape(-1, d.shape[1])


def _patch_classes(labels: Tensor, classes: int) -> tuple[Tensor, Tensor]:
    """The class covering each patch and whether it covers at least MIN_PATCH_PURITY of it."""
    one_hot = F.one_hot(labels.long().clamp(0, classes - 1), classes).permute(0, 3, 1, 2).float()
    share = F.avg_pool2d(one_hot, PATCH)
    purity, cls = share.max(1)
    return cls.reshape(-1), (purity >= MIN_PATCH_PURITY).reshape(-1)


def class_consistency(net: FeatureNet, labels: Tensor, real: Tensor, fake: Tensor, classes: int,
                      seed: int = 0) -> dict[str, float]:
    cls, pure = _patch_classes(labels, classes)
    x_real = _patch_descriptors(net, real)[pure]
    x_fake = _patch_descriptors(net, fake)[pure]
    y = cls[pure]
    if y.numel() < 4 or y.unique().numel() < 2:
        return {}
    mean, std = x_real.mean(0), x_real.std(0).clamp_min(1e-6)
    x_real, x_fake = (x_real - mean) / std, (x_fake - mean) / std
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    held = order[: max(1, len(y) // 5)]
    train = order[len(held) :]
    torch.manual_seed(seed)
    clf = torch.nn.Linear(x_real.shape[1], classes)
    opt = torch.optim.Adam(clf.parameters(), lr=0.05, weight_decay=1e-3)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(clf(x_real[train]), y[train]).backward()
        opt.step()
    with torch.no_grad():
        ceiling = (clf(x_real[held]).argmax(1) == y[held]).float().mean()
        score = (clf(x_fake).argmax(1) == y).float().mean()
    return {"class_consistency": float(score), "class_consistency_real": float(ceiling)}


# ------------------------------------------------------------------------------------------------ driver


def _items(spec: DataSpec, size: int, limit: int) -> list[dict[str, Tensor]]:
    dataset = TrainingSet(spec, size, load_scale=1.0, flip=False)
    return [dataset[(i, 0)] for i in range(min(len(dataset), limit))]


def _style_pictures(folder: Path, size: int, limit: int) -> Tensor:
    files = list_images(folder)[:limit]
    if not files:
        raise DataError(f"style folder {folder} holds no pictures; expected the pictures of the target style")
    spec = DataSpec("images", folder.parent, tuple(files), tuple(files), "image")
    return torch.stack([it["target"] for it in _items(spec, size, limit)])


def label_scores(predicted: Tensor, true: Tensor, label_set: LabelSet, prefix: str) -> dict[str, float]:
    """Pixel accuracy, mean IoU and per-class IoU (`PREFIX_IoU_NAME`) of predicted index maps against true ones.

    A class absent from both maps of the whole set has no IoU and is left out of the mean.
    """
    scores = {f"{prefix}_accuracy": float((predicted == true).float().mean())}
    ious = []
    for label in label_set:
        p, t = predicted == label.index, true == label.index
        union = int((p | t).sum())
        if union:
            iou = int((p & t).sum()) / union
            scores[f"{prefix}_IoU_{label.name}"] = iou
            ious.append(iou)
    scores[f"{prefix}_mIoU"] = float(np.mean(ious)) if ious else 0.0
    return scores


def _staged_labels(model: Model, root: Path, size: int, limit: int) -> dict[str, float]:
    spec = find_layout(root, "sketch", target="labels")
    names = root / "labels.json"
    spec = check_data(spec, read_labelset(names) if names.is_file() else None)
    assert spec.label_set is not None
    scores: dict[str, float] = {}
    kinds = ((0.0, "drawn"), (1.0, "outlined")) if (root / "sketches").is_dir() else ((1.0, "outlined"),)
    for share, prefix in kinds:
        items = TrainingSet(spec, size, load_scale=1.0, flip=False, outline_share=share)
        batch = [items[(i, 0)] for i in range(min(len(items), limit))]
        with torch.no_grad():
            predicted = torch.cat([model.generator.labels(it["source"][None]).argmax(1) for it in batch])
        scores.update(label_scores(predicted, torch.stack([it["target"] for it in batch]), spec.label_set, prefix))
    return scores


HALO_RING = (3.0, 10.0)  # px at 256 px from a cloud's edge: where the teacher's dark ring lies
HALO_OPEN = 25.0  # px at 256 px: sky this far from every cloud counts as open


def halo_depth(picture: np.ndarray, labels: np.ndarray, cloud: int, sky: int) -> float | None:
    """How much darker (0..255 levels) sky near clouds is than open sky; None without both kinds of sky."""
    import cv2

    if not (labels == cloud).any():
        return None
    scale = max(labels.shape) / 256.0
    lum = picture.astype(np.float32) @ np.array(LUMA, np.float32)
    away = cv2.distanceTransform((labels != cloud).astype(np.uint8), cv2.DIST_L2, 5) / scale
    open_sky = labels == sky
    ring = open_sky & (away >= HALO_RING[0]) & (away <= HALO_RING[1])
    far = open_sky & (away >= HALO_OPEN)
    if ring.sum() < 50 or far.sum() < 50:
        return None
    return float(lum[far].mean() - lum[ring].mean())


def render_halo(restyle: Model, painter: Model, maps: list[np.ndarray], device: str = "auto") -> dict[str, float]:
    """`render_halo` (mean) and `render_halo_max` over the maps that have clouds and open sky (module notes)."""
    ls = painter.card.label_set
    names = {} if ls is None else {label.name: label.index for label in ls}
    if "cloud" not in names or "sky" not in names:
        raise DataError(f"painter {painter.card.name!r} has no 'cloud' and 'sky' classes; expected a landscape label model")
    paint, style = Renderer(painter, device=device), Renderer(restyle, device=device)
    depths = []
    for labels in maps:
        render = paint.render(labels)
        restyled, plain = halo_depth(style.render(render), labels, names["cloud"], names["sky"]), \
            halo_depth(render, labels, names["cloud"], names["sky"])
        if restyled is not None and plain is not None:
            depths.append(restyled - plain)
    if not depths:
        raise DataError("no halo map shows both clouds and open sky; expected landscape label maps with clouds")
    return {"render_halo": float(np.mean(depths)), "render_halo_max": float(np.max(depths))}


def evaluate(model: Model | str | Path, data: str | Path, *, size: int = 256, limit: int = 200,
             style: str | Path | None = None, feature_net: str = "auto", device: str = "auto",
             halo_maps: list[np.ndarray] | None = None, painter: Model | str | Path | None = None) -> EvalReport:
    if not isinstance(model, Model):
        model = load_model(model)
    card = model.card
    kind = card.input_kind
    root = Path(data)
    if kind == "sketch":
        # Drawn sketches when the folder has them (even beside labels/), else lines drawn from its pictures.
        spec = find_layout(root, "sketch" if (root / "sketches").is_dir() else "edges")
    else:
        spec = find_layout(root, {"labels": "labels", "image": "image"}[kind])
    spec = check_data(spec, card.label_set)
    if spec.input_kind != kind:
        raise DataError(f"{root} gives {spec.input_kind} input but model {card.name!r} takes {kind}")
    net = load_feature_net(feature_net)
    renderer = Renderer(model, device=device, dtype=torch.float32)
    items = _items(spec, size, limit)
    sources = [it["source"] for it in items]
    real = torch.stack([it["target"] for it in items])
    fake = torch.stack([renderer.render_tensor(source_array(s, kind))[0] for s in sources]).float().clamp(-1, 1)
    metrics: dict[str, float] = {}
    if spec.paired and spec.layout != "images":
        r, f = _unit(real), _unit(fake)
        mse = ((r - f) ** 2).flatten(1).mean(1)
        metrics["L1"] = float((r - f).abs().mean())
        metrics["PSNR"] = float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())
        metrics["SSIM"] = float(ssim(_luma(r), _luma(f)).mean())
        metrics["FD"] = frechet_distance(feature_vectors(net, real), feature_vectors(net, fake))
        if kind == "labels":
            assert card.label_set is not None
            metrics.update(class_consistency(net, torch.stack(sources), real, fake, card.label_set.max_index + 1))
    if card.family == "staged" and (root / "labels").is_dir():
        metrics.update(_staged_labels(model, root, size, limit))
    style_folder = Path(style) if style else (root / "B" if (root / "B").is_dir() else root / "trainB")
    if kind == "image" and (style or not spec.paired):
        style_set = _style_pictures(style_folder, size, limit)
        grams = mean_grams(net, style_set)
        inputs = torch.stack(sources).float()
        metrics["style_distance"] = style_distance(net, fake, grams)
        metrics["style_distance_input"] = style_distance(net, inputs, grams)
        metrics["content_edge_SSIM"] = float(ssim(sobel(_luma(_unit(inputs))), sobel(_luma(_unit(fake)))).mean())
    if halo_maps:
        if kind != "image" or painter is None:
            raise DataError("halo maps measure a restyle of a painter's renders; expected an image model and --painter")
        metrics.update(render_halo(model, painter if isinstance(painter, Model) else load_model(painter), halo_maps,
                                   device))
    if not metrics:
        raise DataError(f"{root} gives nothing to compare {card.name!r} with; expected pairs, A/+B/ or --style DIR")
    return EvalReport(card.name, spec.describe(), len(items), net.name, metrics)


def report_dict(report: EvalReport) -> dict[str, Any]:
    return {"model": report.model, "data": report.data, "items": report.items, "feature_net": report.feature_net,
            "metrics": report.metrics}

