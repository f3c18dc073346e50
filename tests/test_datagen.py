"""Paired landscape data: painted-looking label maps, photo-textured pictures, the data set folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from paintgan.datagen import compose, generate_scene, load_bank, used_photos
from paintgan.datagen.build import build, contact_sheet, main, make_pair
from paintgan.datagen.photolabel import purity_mask
from paintgan.datagen.photomaps import PHOTO_MAPS, Shape, crops, photo_labels, refine
from paintgan.datagen.scenes import CLOUD, DIRT, GRASS, MOUNTAIN, ROCK, SAND, SKY, SNOW, TREE, WATER
from paintgan.datagen.textures import SOURCES, Texture, TextureBank, TextureSource, share_alike_free, synthesize
from paintgan.errors import DataError, InputError
from paintgan.train.data import find_layout
from shared_paths import DATA, needs_shared

PHOTOS = DATA / "photos"
EVAL_MAPS = DATA / "eval_maps"

# Flat class colours for a bank that needs no photos: tests then see exactly what the composer did.
FLAT = {SKY: (0.45, 0.65, 0.92), CLOUD: (0.95, 0.95, 0.97), MOUNTAIN: (0.45, 0.35, 0.25), ROCK: (0.5, 0.5, 0.5),
        SNOW: (0.97, 0.97, 1.0), WATER: (0.1, 0.3, 0.5), GRASS: (0.3, 0.6, 0.2), TREE: (0.1, 0.3, 0.1),
        SAND: (0.85, 0.75, 0.5), DIRT: (0.5, 0.35, 0.2)}


def flat_bank() -> TextureBank:
    def flat(c: int, rgb: tuple[float, float, float]) -> Texture:
        return Texture(np.full((64, 64, 3), rgb, np.float32), 1.0, TextureSource("flat", c, (0, 0, 1, 1)))

    return TextureBank({c: (flat(c, rgb),) for c, rgb in FLAT.items()})


def scenes(n: int, size: int) -> list[np.ndarray]:
    return [generate_scene(np.random.default_rng(i), size).labels for i in range(n)]


def edge_density(labels: np.ndarray) -> float:
    return float((labels[:, 1:] != labels[:, :-1]).mean() + (labels[1:] != labels[:-1]).mean())


def test_scenes_have_sky_above_and_ground_below() -> None:
    for lab in scenes(25, 96):
        assert lab.dtype == np.uint8 and lab.shape == (96, 96) and lab.max() <= 9
        assert np.isin(lab[0], (SKY, CLOUD)).mean() > 0.9
        assert not np.isin(lab[-1], (SKY, CLOUD)).any()


def test_scenes_are_repeatable_and_varied() -> None:
    a = generate_scene(np.random.default_rng(7), 64).labels
    assert np.array_equal(a, generate_scene(np.random.default_rng(7), 64).labels)
    maps = scenes(40, 64)
    assert len({m.tobytes() for m in maps}) == 40
    assert set(np.unique(np.concatenate([m.ravel() for m in maps]))) == set(range(10))


@needs_shared(EVAL_MAPS)
def test_scene_statistics_resemble_hand_painted_maps() -> None:
    painted = [np.asarray(Image.open(EVAL_MAPS / f"map_0{i}.png").resize((128, 128), Image.Resampling.NEAREST))
               for i in range(6)]
    made = scenes(40, 128)
    sky = lambda maps: float(np.mean([np.isin(m, (SKY, CLOUD)).mean() for m in maps]))  # noqa: E731
    assert abs(sky(made) - sky(painted)) < 0.15
    # Brush-painted maps: few large regions, so few class changes between neighbours (not noise, not stripes).
    ratio = np.mean([edge_density(m) for m in made]) / np.mean([edge_density(m) for m in painted])
    assert 0.5 < ratio < 2.0


def test_bad_scene_requests_are_refused() -> None:
    with pytest.raises(InputError, match="too small"):
        generate_scene(np.random.default_rng(0), 8)
    with pytest.raises(InputError, match="expected one of"):
        generate_scene(np.random.default_rng(0), 64, kind="moon")


def _transition_width(img: np.ndarray, row: int, a: np.ndarray, b: np.ndarray) -> int:
    """Columns along `row` whose colour is clearly between the two pure sides."""
    t = ((img[row].astype(np.float32) / 255 - a) @ (b - a)) / float((b - a) @ (b - a))
    return int(((t > 0.1) & (t < 0.9)).sum())


def test_boundaries_are_soft_where_nature_has_them() -> None:
    lab = np.full((256, 256), SKY, np.uint8)
    lab[:, 128:] = MOUNTAIN
    lab[160:, :128] = GRASS
    lab[160:, 128:] = SAND
    img = compose(lab, flat_bank(), np.random.default_rng(0), horizon=160)
    ground = img[230].astype(np.float32) / 255
    sky_row = img[60].astype(np.float32) / 255
    soft = _transition_width(img, 230, ground[100], ground[156])
    crisp = _transition_width(img, 60, sky_row[100], sky_row[156])
    assert soft >= 5 and soft >= crisp + 2


def test_water_mirrors_what_stands_above_the_shore() -> None:
    lab = np.full((256, 256), SKY, np.uint8)
    lab[60:128, :128] = MOUNTAIN
    lab[128:, :] = WATER
    img = compose(lab, flat_bank(), np.random.default_rng(1), horizon=128).astype(np.float32)
    below_mountain, below_sky = img[135:170, 20:100].mean((0, 1)), img[135:170, 156:236].mean((0, 1))
    # Under the mountain the water is browner (more red than blue) than under the open sky.
    assert below_mountain[0] - below_mountain[2] > below_sky[0] - below_sky[2] + 20


def test_compose_refuses_foreign_label_maps() -> None:
    with pytest.raises(InputError, match="below 10"):
        compose(np.full((32, 32), 12, np.uint8), flat_bank(), np.random.default_rng(0))
    with pytest.raises(InputError, match="2-D uint8"):
        compose(np.zeros((32, 32, 3), np.uint8), flat_bank(), np.random.default_rng(0))


def test_purity_mask_drops_a_foreign_object() -> None:
    rng = np.random.default_rng(0)
    patch = np.clip(np.array([0.3, 0.55, 0.2]) + rng.normal(0, 0.03, (64, 64, 3)), 0, 1).astype(np.float32)
    patch[20:30, 20:30] = (0.9, 0.1, 0.1)  # a red kite in the meadow
    mask = purity_mask(patch)
    assert not mask[22:28, 22:28].any()
    assert mask.mean() > 0.9


def test_synthesized_texture_tiles_without_a_seam() -> None:
    rng = np.random.default_rng(0)
    patch = cv2.GaussianBlur(rng.random((120, 200, 3)).astype(np.float32), (0, 0), 2.0)
    tex = synthesize(patch, rng, 96)
    inner = np.abs(tex[:, 1:] - tex[:, :-1]).mean()
    seam = np.abs(tex[:, 0] - tex[:, -1]).mean()
    assert tex.shape == (96, 96, 3)
    assert seam < 2 * inner


@pytest.fixture(scope="module")
def real_bank() -> TextureBank:
    if not PHOTOS.exists():
        pytest.skip(f"shared material not found: {PHOTOS}")
    return load_bank(PHOTOS)


def _grain(region: np.ndarray) -> float:
    """Texture at the scale of a few pixels (4x4 means, so per-pixel sensor noise does not count)."""
    h, w = (region.shape[0] // 4) * 4, (region.shape[1] // 4) * 4
    small = region[:h, :w].reshape(h // 4, 4, w // 4, 4, 3).mean(axis=(1, 3))
    return float(np.abs(np.diff(small, axis=1)).mean())


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


@pytest.mark.slow
def test_each_class_renders_with_its_own_look(real_bank: TextureBank) -> None:
    # Bands of one class each below the sky, wide enough to measure colour and texture.
    lab = np.full((256, 256), SKY, np.uint8)
    bands = (GRASS, SAND, TREE, SNOW, ROCK, DIRT)
    lab[64:, :] = GRASS
    for i, c in enumerate(bands):
        lab[64:, i * 42:(i + 1) * 42] = c
    means: dict[int, list[np.ndarray]] = {c: [] for c in bands + (SKY,)}
    grain: dict[int, list[float]] = {c: [] for c in (SKY, GRASS)}
    for seed in range(4):
        img = compose(lab, real_bank, np.random.default_rng(seed), horizon=64).astype(np.float32) / 255
        for i, c in enumerate(bands):
            means[c].append(img[120:250, i * 42 + 8:(i + 1) * 42 - 8].reshape(-1, 3).mean(0))
        means[SKY].append(img[5:55].reshape(-1, 3).mean(0))
        grain[SKY].append(_grain(img[8:56, 8:248]))
        grain[GRASS].append(_grain(img[150:250, 4:36]))
    m = {c: np.mean(v, axis=0) for c, v in means.items()}
    assert m[GRASS][1] > m[GRASS][0] and m[GRASS][1] > m[GRASS][2]  # green
    assert m[SKY][2] > m[SKY][0]  # blue
    assert _luma(m[SNOW]) > 0.75  # bright
    assert m[SAND][0] > m[SAND][2] + 0.1 and _luma(m[SAND]) > _luma(m[DIRT])  # warm, lighter than dirt
    assert _luma(m[TREE]) < _luma(m[GRASS]) and m[TREE][1] >= m[TREE][2]  # dark green foliage
    assert np.ptp(m[ROCK]) < 0.12  # grey-brown, hardly saturated
    assert np.mean(grain[GRASS]) > 3 * np.mean(grain[SKY])  # textured grass, smooth sky
    names = list(m)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(m[a] - m[b]).sum() > 0.1, (a, b)


@pytest.mark.slow
def test_build_writes_a_trainable_resumable_folder(tmp_path, real_bank: TextureBank) -> None:
    out = tmp_path / "set"
    assert build(out, 3, 64, seed=5, photos=PHOTOS, bank=real_bank) == 3
    spec = find_layout(out)
    assert spec.layout == "labels" and len(spec) == 3
    lab = Image.open(out / "labels" / "000002.png")
    img = Image.open(out / "images" / "000002.png")
    assert lab.mode == "L" and img.mode == "RGB" and img.size == lab.size == (64, 64)
    again = make_pair(real_bank, 5, 2, 64)
    assert np.array_equal(np.asarray(lab), again.scene.labels)
    assert np.array_equal(np.asarray(img), again.image)
    assert build(out, 3, 64, seed=5, photos=PHOTOS, bank=real_bank) == 0  # resumed: nothing left to do
    assert contact_sheet([again]).shape == (128, 6 * 64, 3)


def test_build_refuses_nonsense_counts(tmp_path, capsys) -> None:
    with pytest.raises(DataError, match="at least 1"):
        build(tmp_path, 0, 64, bank=flat_bank())
    assert main(["--out", str(tmp_path), "--count", "1", "--size", "8"]) == 2
    assert "too small" in capsys.readouterr().err


@needs_shared(DATA / "MANIFEST.csv")
def test_every_texture_photo_is_credited_in_the_data_card() -> None:
    import csv

    card = (Path(__file__).resolve().parents[1] / "docs" / "data" / "SCENES.md").read_text(encoding="utf-8")
    with open(DATA / "MANIFEST.csv", encoding="utf-8") as fh:
        manifest = {row["path"]: row for row in csv.DictReader(fh)}
    for photo in set(used_photos()) | set(PHOTO_MAPS):
        row = manifest[f"photos/{photo}"]
        line = next((ln for ln in card.splitlines() if f"`{photo}`" in ln), "")
        assert row["licence"] in line and row["original_credit"] in line, photo


@needs_shared(DATA / "MANIFEST.csv")
def test_share_alike_free_sources_drop_copyleft_photos_but_keep_every_class() -> None:
    free = share_alike_free(SOURCES, DATA / "MANIFEST.csv")
    photos = {s.photo for s in free}
    assert "beach_aerial_volna.jpg" not in photos  # CC-BY-SA-4.0
    assert "sea_waves_spray_andreas_kainz.jpg" not in photos  # LGPL-3.0
    assert "mountains_snow_lucian_dachman.jpg" in photos  # Unsplash License
    assert {s.cls for s in free} == set(range(10))


def test_share_alike_filter_needs_a_readable_manifest(tmp_path) -> None:
    with pytest.raises(DataError, match="MANIFEST"):
        share_alike_free(SOURCES, tmp_path / "missing.csv")


def test_photo_map_refinement_snaps_hand_lines_to_colour_edges() -> None:
    # A "photo": blue sky above row 40, brown mountain below, drawn with the hand line 3 px too high
    # (the undecided band is 0.8 % of the width: 4 px here).
    rgb = np.zeros((100, 500, 3), np.float32)
    rgb[:40] = (0.4, 0.6, 0.9)
    rgb[40:] = (0.45, 0.35, 0.25)
    rgb += np.random.default_rng(0).normal(0, 0.01, rgb.shape).astype(np.float32)
    shapes = (Shape(("sky",), ((0, 0), (100, 0), (100, 100), (0, 100))),
              Shape(("mountain",), ((0, 37), (100, 37), (100, 100), (0, 100))))
    lab = refine(rgb, shapes)
    assert (lab[:39] == SKY).all() and (lab[41:] == MOUNTAIN).all()


def test_photo_map_mixed_shapes_are_decided_by_colour() -> None:
    rgb = np.full((100, 100, 3), (0.45, 0.35, 0.25), np.float32)
    rgb[10:30, 60:90] = (0.97, 0.97, 1.0)  # a snow field inside the mountain
    shapes = (Shape(("mountain", "snow"), ((0, 0), (100, 0), (100, 100), (0, 100))),
              Shape(("mountain",), ((0, 50), (50, 50), (50, 100), (0, 100))),
              Shape(("snow",), ((65, 12), (85, 12), (85, 28), (65, 28))))
    lab = refine(rgb, shapes)
    assert (lab[12:28, 62:88] == SNOW).all() and (lab[40:90, 5:50] == MOUNTAIN).all()
    with pytest.raises(DataError, match="no sure pixels"):
        refine(rgb, shapes[:1])


@needs_shared(PHOTOS)
def test_labelled_photos_give_aligned_real_pairs() -> None:
    name = "lake_mountain_reflection_sean_afnan.jpg"
    rgb, lab = photo_labels(PHOTOS, name, width=320)
    assert rgb.shape[:2] == lab.shape
    assert (lab[: lab.shape[0] // 10, : lab.shape[1] // 3] == SKY).mean() > 0.9
    assert (lab[-lab.shape[0] // 10:] == WATER).mean() > 0.8
    pairs = crops(rgb, lab, np.random.default_rng(0), 3, 64)
    assert all(img.shape == (64, 64, 3) and m.shape == (64, 64) for img, m in pairs)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_compose_copes_with_any_painted_map() -> None:
    # One class everywhere, speckle of all classes, water at the very top: nothing a person paints may crash it.
    rng = np.random.default_rng(3)
    maps = [np.full((64, 64), c, np.uint8) for c in range(10)]
    maps.append(rng.integers(0, 10, (64, 64)).astype(np.uint8))
    water_top = np.full((64, 64), GRASS, np.uint8)
    water_top[:20] = WATER
    maps.append(water_top)
    for lab in maps:
        img = compose(lab, flat_bank(), rng)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert 0 < img.mean() < 255
