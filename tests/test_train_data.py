"""Training data folders: every layout is found, every bad folder is refused before the first step with a message
naming the file, augmentation keeps label maps crisp, and the data order resumes and shards exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_data import make_labels_folder, make_sketch_folder, make_unpaired_folder

from paintgan.errors import DataError
from paintgan.labels import LabelSet
from paintgan.train.data import ResumableSampler, TrainingSet, check_data, find_layout


def checked(root: Path, input_kind: str = "auto", label_set: LabelSet | None = None):  # noqa: ANN201
    return check_data(find_layout(root, input_kind), label_set)


def test_labels_folder_defines_classes_from_the_index_maps(tmp_path: Path) -> None:
    spec = checked(make_labels_folder(tmp_path / "d", n=3, size=32))
    assert spec.layout == "labels" and len(spec) == 3 and spec.input_kind == "labels"
    assert spec.label_set is not None and len(spec.label_set) == 4  # values 0..3 occur
    assert [p.stem for p in spec.sources] == [p.stem for p in spec.targets]


def test_colour_label_maps_are_snapped_with_a_label_set(tmp_path: Path) -> None:
    root = make_labels_folder(tmp_path / "d", n=2, size=32)
    ls = LabelSet.from_dict([{"index": i, "name": f"c{i}", "colour": [i * 60, 10, 10]} for i in range(4)])
    for p in (root / "labels").iterdir():
        idx = np.asarray(Image.open(p))
        Image.fromarray(ls.palette()[idx]).save(p)
    spec = checked(root, label_set=ls)
    sample = TrainingSet(spec, 32, load_scale=1.0, flip=False)[(0, 0)]
    assert set(sample["source"].unique().tolist()) <= {0, 1, 2, 3}


def test_other_layouts_are_recognised(tmp_path: Path) -> None:
    assert checked(make_sketch_folder(tmp_path / "s", n=2, size=32)).layout == "sketches"
    assert checked(make_unpaired_folder(tmp_path / "u", n=2, size=32)).layout == "unpaired"
    cyc = checked(make_unpaired_folder(tmp_path / "c", n=2, size=32, names=("trainA", "trainB")))
    assert cyc.layout == "unpaired"
    edges = tmp_path / "e"
    shutil.copytree(tmp_path / "s" / "images", edges / "images")
    assert checked(edges, "edges").input_kind == "sketch"
    ab = tmp_path / "ab" / "train"
    ab.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(ab / "p.png")
    assert checked(tmp_path / "ab").layout == "ab"


def test_a_b_folders_with_the_same_names_train_as_pairs(tmp_path: Path) -> None:
    """Restyle distillation data (photo in A/, its teacher restyle in B/) must be cropped and flipped together."""
    root = tmp_path / "pairs"
    rng = np.random.default_rng(3)
    for side in ("A", "B"):
        (root / side).mkdir(parents=True)
    for i in range(3):
        photo = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(photo).save(root / "A" / f"p{i}.png")
        Image.fromarray(255 - photo).save(root / "B" / f"p{i}.png")  # the "restyle": a pixel-aligned negative
    spec = checked(root)
    assert spec.layout == "pairs" and spec.paired
    assert [p.stem for p in spec.sources] == [p.stem for p in spec.targets]
    for key in ((0, 0), (1, 5), (2, 9)):
        sample = TrainingSet(spec, 32, load_scale=1.0, flip=True)[key]
        # resizing rounds each side on its own (1 level); a misaligned crop or flip would be off by ~1.0
        assert (sample["source"] + sample["target"]).abs().max() < 0.02


def _mutate_missing_image(root: Path) -> None:
    (root / "images" / "s1.png").unlink()


def _mutate_missing_label(root: Path) -> None:
    (root / "labels" / "s2.png").unlink()


def _mutate_size(root: Path) -> None:
    Image.fromarray(np.zeros((40, 32, 3), np.uint8)).save(root / "images" / "s0.png")


def _mutate_corrupt(root: Path) -> None:
    (root / "images" / "s1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")


def _mutate_colour_labels(root: Path) -> None:
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "labels" / "s0.png")


def _mutate_duplicate(root: Path) -> None:
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "images" / "s0.jpg")


def _mutate_empty(root: Path) -> None:
    for p in (root / "images").iterdir():
        p.unlink()


def _mutate_no_labels(root: Path) -> None:
    shutil.rmtree(root / "labels")


def _mutate_unknown(root: Path) -> None:
    shutil.rmtree(root / "labels")
    (root / "images").rename(root / "photos")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_mutate_missing_image, "no picture in images/ with the same name as labels/s1.png"),
        (_mutate_missing_label, "no label in labels/ with the same name as images/s2.png"),
        (_mutate_size, "labels/s0.png is 32x32 but images/s0.png is 32x40"),
        (_mutate_corrupt, "images/s1.png cannot be read as a picture"),
        (_mutate_colour_labels, "labels/s0.png"),
        (_mutate_duplicate, "images/s0.jpg and images/s0.png share the name"),
        (_mutate_empty, "images/ holds no pictures"),
        (_mutate_no_labels, "--input edges"),
        (_mutate_unknown, "has photos/"),
    ],
)
def test_bad_paired_folders_name_the_problem(tmp_path: Path, mutate, expected: str) -> None:  # noqa: ANN001
    root = make_labels_folder(tmp_path / "d", n=3, size=32)
    mutate(root)
    with pytest.raises(DataError) as err:
        checked(root)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_colour_label_map_without_label_set_says_to_pass_one(tmp_path: Path) -> None:
    root = make_labels_folder(tmp_path / "d", n=2, size=32)
    _mutate_colour_labels(root)
    with pytest.raises(DataError, match="--labels"):
        checked(root)


def test_label_outside_the_label_set_is_refused(tmp_path: Path) -> None:
    root = make_labels_folder(tmp_path / "d", n=2, size=32)
    ls = LabelSet.from_dict([{"index": i, "name": f"c{i}", "colour": [i * 60, 0, 0]} for i in range(3)])
    with pytest.raises(DataError, match=r"labels/s\d\.png"):
        checked(root, label_set=ls)


def test_unpaired_and_side_by_side_problems(tmp_path: Path) -> None:
    root = make_unpaired_folder(tmp_path / "u", n=2, size=32)
    shutil.rmtree(root / "B")
    with pytest.raises(DataError, match="has A/ but no B/"):
        checked(root)
    ab = tmp_path / "ab" / "train"
    ab.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(ab / "square.png")
    with pytest.raises(DataError, match="train/square.png are not side-by-side"):
        checked(tmp_path / "ab")
    with pytest.raises(DataError, match="does not exist"):
        checked(tmp_path / "nowhere")
    with pytest.raises(DataError, match="--input labels does not fit A/B pictures"):
        find_layout(make_unpaired_folder(tmp_path / "u2", n=1, size=32), "labels")


def test_augmentation_keeps_labels_crisp_and_aligned(tmp_path: Path) -> None:
    spec = checked(make_labels_folder(tmp_path / "d", n=2, size=48))
    ds = TrainingSet(spec, 32, seed=3, load_scale=1.5)
    for epoch in range(4):
        s = ds[(0, epoch)]
        labels, target = s["source"], s["target"]
        assert labels.shape == (32, 32) and target.shape == (3, 32, 32)
        assert set(labels.unique().tolist()) <= {0, 1, 2, 3}  # nearest: no blended in-between classes
        # Aligned: sky pixels of the crop are bluish in the picture, grass pixels are not.
        sky, grass = labels == 0, labels == 1
        if sky.any() and grass.any():
            assert target[2][sky].mean() > target[2][grass].mean()
    assert torch.equal(ds[(1, 2)]["target"], ds[(1, 2)]["target"])  # same key, same sample
    assert not torch.equal(ds[(1, 2)]["target"], ds[(1, 3)]["target"])


def test_edges_are_drawn_from_the_crop(tmp_path: Path) -> None:
    root = tmp_path / "e"
    shutil.copytree(make_sketch_folder(tmp_path / "s", n=2, size=64) / "images", root / "images")
    ds = TrainingSet(checked(root, "edges"), 64, load_scale=1.0, flip=False, edges="canny")
    sketch = ds[(0, 0)]["source"]
    assert sketch.shape == (1, 64, 64)
    paper = (sketch > 0).float().mean()
    assert 0.5 < paper < 1.0  # mostly white paper with some dark lines


def test_sampler_resumes_and_shards(tmp_path: Path) -> None:
    def take(sampler: ResumableSampler, n: int) -> list[tuple[int, int]]:
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    whole = take(ResumableSampler(5, seed=1), 12)
    assert take(ResumableSampler(5, seed=1, start=7), 5) == whole[7:12]
    assert sorted(i for i, e in whole[:5]) == list(range(5)) and {e for _, e in whole[5:10]} == {1}
    rank0 = take(ResumableSampler(6, seed=1, rank=0, world=2), 3)
    rank1 = take(ResumableSampler(6, seed=1, rank=1, world=2), 3)
    assert not {i for i, _ in rank0} & {i for i, _ in rank1}


def test_labels_json_round_trip_is_accepted(tmp_path: Path) -> None:
    root = make_labels_folder(tmp_path / "d", n=2, size=32)
    ls = LabelSet.from_dict([{"index": i, "name": f"c{i}", "colour": [i * 60, 0, 0]} for i in range(4)])
    (tmp_path / "ls.json").write_text(json.dumps(ls.to_dict()))
    spec = checked(root, label_set=ls)
    assert spec.label_set == ls
