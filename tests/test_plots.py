"""The metadata plots are real PNGs, made the same way every time (no timestamp in the file)."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from writ_dagster.core.plots import axes_heatmaps, bar_label, loss_curve, md_image, score_bars

CELLS = {"airline": {(1, 2): 5, (3, 6): 2, (7, 12): 1}, "retail": {(2, 1): 4}}


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_each_plot_is_a_png_made_identically_twice() -> None:
    made = {
        "heatmap": lambda: axes_heatmaps(CELLS, "tasks by writes × reads"),
        "rates": lambda: axes_heatmaps({"airline": {(1, 0): 1.0, (2, 3): 0.25}}, "pass rate", "pass rate",
                                       percent=True),
        "loss": lambda: loss_curve([(1, 7.7), (10, 6.1), (20, 5.5)], "loss"),
        "bars": lambda: score_bars({"airline": {"base": 0.0, "fine-tuned": 0.5}}, "scores", "pass^1"),
    }
    for name, make in made.items():
        png = make()
        assert png == make(), name  # byte for byte: metadata does not change when the data does not
        image = _image(png)
        assert image.format == "PNG" and image.width > 200 and image.height > 150, (name, image.size)


def test_a_heatmap_grows_with_its_largest_cell_and_has_a_panel_per_domain() -> None:
    small = _image(axes_heatmaps({"airline": {(1, 1): 1}}, "one panel"))
    two = _image(axes_heatmaps(CELLS, "two panels"))
    tall = _image(axes_heatmaps({"airline": {(15, 1): 1}}, "fifteen writes"))
    assert two.width > 1.6 * small.width  # a second panel beside the first
    assert tall.height > small.height  # rows up to 15 writes


def test_md_image_is_an_inline_png() -> None:
    png = loss_curve([(1, 1.0)], "one point")
    [data] = re.findall(r"^!\[loss\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$", md_image(png, "loss"))
    assert base64.b64decode(data) == png


def test_a_zero_score_says_none_passed_and_a_missing_one_is_not_drawn_as_zero() -> None:
    assert bar_label(0.0) == "0.00\nnone passed"
    assert bar_label(0.25) == "0.25"
    assert bar_label(None) == "no score"
    zero = score_bars({"airline": {"base": 0.0, "fine-tuned": 0.5}, "retail": {"base": 0.0, "fine-tuned": 0.0}},
                      "scores", "pass^1")
    missing = score_bars({"airline": {"base": 0.0, "fine-tuned": 0.5}, "retail": {"base": 0.0}}, "scores", "pass^1")
    assert zero != missing  # retail's fine-tuned model: "0.00 none passed" in one, "no score" in the other
