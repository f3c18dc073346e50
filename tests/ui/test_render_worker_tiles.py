"""The worker's final pass on a big canvas with the real engine: whatever the model, the picture shown is the full
render's, pixel for pixel (tiles only where the engine says they are exact; no seam, ever)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paintgan.families import get_family
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.models import Model, synthesise_card
from paintgan.render import Renderer
from ui.render_worker import RenderRequest, RenderWorker

pytestmark = pytest.mark.gui


def renderer(norm: str, reflect: tuple[int, ...] = ()) -> Renderer:
    config = LightSpadeConfig(input_nc=10, ngf=8, n_down=3, n_blocks=1, hidden=8, norm=norm, reflect=reflect)
    family = get_family("light_spade")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        net = family.build(config).eval()
    return Renderer(Model(synthesise_card(family, config, name=f"tiny-{norm}"), net), device="cpu")


@pytest.fixture
def worker(qtbot):  # noqa: ANN001, ANN201
    w = RenderWorker()
    w.preview_side = 128  # drafts shrunk, so every request ends in a full-size refine pass
    w.idle_ms = 30
    results = []
    w.resultReady.connect(results.append)
    w.failed.connect(lambda line: results.append(line))
    w.start()

    def refine(source: np.ndarray, revision: int) -> np.ndarray:
        w.request(RenderRequest(revision, source.copy()))
        qtbot.waitUntil(lambda: any(getattr(r, "stage", "") == "refine" and r.revision == revision
                                    for r in results), timeout=30000)
        assert not [r for r in results if isinstance(r, str)]  # no failure reported
        return next(r.base for r in results if getattr(r, "stage", "") == "refine" and r.revision == revision)

    w.refine = refine
    yield w
    w.stop()


def painting(h: int, w: int) -> np.ndarray:
    cells = np.random.default_rng(4).integers(0, 10, (h // 32 + 1, w // 32 + 1))
    return cells.repeat(32, 0).repeat(32, 1)[:h, :w].astype(np.uint8)


@pytest.mark.parametrize(("norm", "reflect"), [("batch", ()), ("instance", ()), ("batch", (5,))])
def test_a_big_canvas_refines_to_the_full_render_tiled_or_not(worker, norm: str, reflect: tuple[int, ...]) -> None:  # noqa: ANN001
    r = renderer(norm, reflect)
    worker.use_renderers(draft=("tiny", r, False), refine=("tiny", r, False))
    labels = painting(576, 704)
    assert np.array_equal(worker.refine(labels, 1), r.render(labels))
    labels[20:40, 30:60] = 3  # a stroke in the top-left tile
    assert np.array_equal(worker.refine(labels, 2), r.render(labels))
    if norm == "batch":  # exact: only the touched tile was rendered again, and it still meets its neighbours
        # (with reflections, the tile is the full-height strip: a stroke on the shore changes the whole lake)
        assert r.tiling.exact and r.tiling.columns == bool(reflect) and worker.stats["tiles"] == 1
    else:  # instance norm: tiles would show seams, so the whole canvas each time
        assert not r.tiling.exact and worker.stats["tiles"] == 0
