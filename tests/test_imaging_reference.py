"""Tests of the slow reference renderer of the published Spectromer method.

Sizes: the array kinds (``map2dnormal``, ``map2dnormaldev``, ``roi``) are exactly
``size`` x ``size``.  The matplotlib kinds (``plot``, ``overlapsplit``, ``map2d``) are
what ``savefig(bbox_inches="tight", pad_inches=0)`` gives for a 2.24 inch, 100 dpi
figure: 224 x 224 with current matplotlib, but rounding of the tight bounding box may
give a pixel or two more or less with other versions, so those are checked to lie in
220-226 pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
pytest.importorskip("scipy")

import matplotlib  # noqa: E402
from matplotlib import colormaps  # noqa: E402

from spectromer.imaging.reference import (  # noqa: E402
    REFERENCE_KINDS,
    _rolling_median_centered,
    render_reference,
)

PNG_KINDS = ("plot", "overlapsplit", "map2d")
ARRAY_KINDS = ("map2dnormal", "map2dnormaldev", "roi")
PER_SIDE = 224 // 3  # 74 blocks a side at block_size=3


def _gaussian(wave, centre, sigma, depth):
    return depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)


@pytest.fixture(scope="module")
def synthetic():
    """3900-point continuum with a few Gaussian absorption lines and a little noise."""
    rng = np.random.default_rng(42)
    wave = np.linspace(3700.0, 9100.0, 3900)
    flux = 80.0 + 20.0 * (wave - 3700.0) / 5400.0
    for centre in (4102.0, 4341.0, 4861.0, 6563.0):
        flux -= _gaussian(wave, centre, 6.0, 30.0)
    flux += rng.normal(0.0, 0.2, wave.size)
    return wave, flux


def _block(image, index, block_size=3, per_side=PER_SIDE, order="standard"):
    """Pixels of the block that value ``index`` fills, from the documented order."""
    row, col = divmod(index, per_side)
    if order == "boustrophedon" and row % 2 == 1:
        col = per_side - 1 - col
    rows = slice(row * block_size, (row + 1) * block_size)
    return image[rows, col * block_size : (col + 1) * block_size]


@pytest.mark.parametrize("kind", REFERENCE_KINDS)
def test_every_kind_is_rgb_uint8_of_the_expected_size(synthetic, kind):
    wave, flux = synthetic
    image = render_reference(wave, flux, kind)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    if kind in ARRAY_KINDS:
        assert image.shape[:2] == (224, 224)
    else:
        assert 220 <= image.shape[0] <= 226 and 220 <= image.shape[1] <= 226
    assert image.min() < image.max()  # something was drawn


def test_plot_draws_the_default_line_colour(synthetic):
    wave, flux = synthetic
    image = render_reference(wave, flux, "plot").astype(int)
    white = (image == 255).all(axis=2)
    assert white.mean() > 0.5  # a thin line on a white figure
    # matplotlib's first default colour, #1f77b4, dominates the line pixels
    ink = image[~white]
    assert (ink[:, 2] > ink[:, 0]).mean() > 0.9


def test_overlapsplit_draws_three_colours(synthetic):
    wave, flux = synthetic
    image = render_reference(wave, flux, "overlapsplit").astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    assert ((r > g + 60) & (r > b + 60)).sum() > 50
    assert ((g > r + 60) & (g > b + 60)).sum() > 50
    assert ((b > r + 60) & (b > g + 60)).sum() > 50


def test_map2d_uses_viridis_with_fixed_limits():
    values = np.array([-1.13, 20.0, 72.0, 130.0, 144.97, 500.0])
    flux = np.resize(values, 200)  # 200 values: 2 full block rows and part of a third
    image = render_reference(np.linspace(4000.0, 8000.0, 200), flux, "map2d").astype(int)
    norm = matplotlib.colors.Normalize(vmin=-1.13, vmax=144.97)

    def colour(value):
        return np.array(colormaps["viridis"](norm(value), bytes=True)[:3], dtype=int)

    for i in (0, 1, 2, 3, 4, 5, 80, 199):  # centre pixel of the block of value i
        centre = _block(image, i)[1, 1]
        assert np.abs(centre - colour(flux[i])).max() <= 1, (i, flux[i], centre)
    # the canvas is 0 where there is no value: block 200 on, and the far corner
    assert np.abs(_block(image, 200)[1, 1] - colour(0.0)).max() <= 1
    assert np.abs(image[-20, -20] - colour(0.0)).max() <= 1


@pytest.mark.parametrize("order", ["standard", "boustrophedon"])
@pytest.mark.parametrize("block_size", [3, 4])
def test_map2dnormal_puts_value_i_in_block_i(order, block_size):
    # flux 0..255 makes the scaled red value of sample i exactly i
    flux = np.arange(256.0)
    wave = 4000.0 + flux
    image = render_reference(wave, flux, "map2dnormal", block_size=block_size, fill_order=order)
    per_side = 224 // block_size
    for i in range(flux.size):
        block = _block(image, i, block_size, per_side, order)
        assert block.shape == (block_size, block_size, 3)
        assert (block[..., 0] == i).all(), f"block of value {i}"
    assert image[..., 1:].max() == 0  # red channel only
    used = np.zeros(image.shape[:2], dtype=bool)
    for i in range(flux.size):
        _block(used, i, block_size, per_side, order)[...] = True
    assert image[~used].max() == 0  # nothing outside the blocks of the 256 values


def test_map2dnormal_truncates_with_int():
    flux = np.array([0.0, 1.0, 2.0])  # scaled 0, 127.5, 255 -> 0, 127, 255
    image = render_reference(np.array([1.0, 2.0, 3.0]), flux, "map2dnormal")
    assert [int(_block(image, i)[0, 0, 0]) for i in range(3)] == [0, 127, 255]


def test_boustrophedon_reverses_odd_block_rows():
    rng = np.random.default_rng(3)
    flux = rng.normal(50.0, 10.0, PER_SIDE * PER_SIDE)  # exactly fills the 74 x 74 blocks
    wave = np.linspace(3700.0, 9100.0, flux.size)
    std = render_reference(wave, flux, "map2dnormaldev", fill_order="standard")
    bou = render_reference(wave, flux, "map2dnormaldev", fill_order="boustrophedon")
    width = PER_SIDE * 3
    for row in range(PER_SIDE):
        rows = slice(3 * row, 3 * row + 3)
        if row % 2 == 0:
            np.testing.assert_array_equal(bou[rows], std[rows])
        else:
            assert not np.array_equal(bou[rows], std[rows])
            np.testing.assert_array_equal(bou[rows, :width][:, ::-1], std[rows, :width])
    assert bou[width:].max() == 0 and bou[:, width:].max() == 0  # 224 - 222 unused pixels


def test_map2dnormaldev_channels_are_scaled_derivatives(synthetic):
    wave, flux = synthetic
    image = render_reference(wave, flux, "map2dnormaldev")
    first = np.gradient(flux)
    second = np.gradient(first)
    for channel, values in enumerate((flux, first, second)):
        scaled = 255 * (values - values.min()) / (values.max() - values.min())
        for i in (0, 1, 1000, 2345, flux.size - 1):
            assert (_block(image, i)[..., channel] == int(scaled[i])).all()
    # values past the last sample leave blocks empty
    assert _block(image, flux.size).max() == 0


def test_interpolate_fills_every_block():
    wave = np.linspace(4000.0, 8000.0, 1000)
    flux = 3.0 * (wave - 4000.0)  # linear in wavelength: interpolation is exact
    plain = render_reference(wave, flux, "map2dnormal")
    full = render_reference(wave, flux, "map2dnormal", interpolate=True)
    n_blocks = PER_SIDE * PER_SIDE
    assert _block(plain, 999)[..., 0].max() == 255 and _block(plain, 1000).max() == 0
    expected = 255 * np.arange(n_blocks) / (n_blocks - 1)
    for i in range(n_blocks):
        value = int(_block(full, i)[0, 0, 0])
        assert abs(value - expected[i]) <= 1, i
    assert int(_block(full, n_blocks - 1)[0, 0, 0]) == 255


def test_interpolate_is_a_no_op_for_long_spectra(synthetic):
    wave, flux = synthetic
    longer = np.linspace(wave[0], wave[-1], 6000)
    flux_long = np.interp(longer, wave, flux)
    a = render_reference(longer, flux_long, "map2dnormal")
    b = render_reference(longer, flux_long, "map2dnormal", interpolate=True)
    np.testing.assert_array_equal(a, b)
    assert _block(a, PER_SIDE * PER_SIDE - 1)[..., 0].max() > 0  # values past the grid dropped


def test_roi_marks_a_strong_absorption_line():
    wave = np.linspace(3700.0, 9100.0, 3900)
    flux = 100.0 - _gaussian(wave, 6563.0, 8.0, 40.0) - _gaussian(wave, 5000.0, 8.0, 0.5)
    image = render_reference(wave, flux, "roi")
    green = np.array([int(_block(image, i)[0, 0, 1]) for i in range(wave.size)])
    assert set(np.unique(green)) <= {0, 50}
    assert image[..., 2].max() == 0
    line = int(np.argmin(np.abs(wave - 6563.0)))
    weak = int(np.argmin(np.abs(wave - 5000.0)))
    assert green[line] == 50  # the deep line is a region of interest
    assert green[weak] == 0  # a 0.5-deep line stays under the 1.5 threshold
    marked = np.flatnonzero(green)
    assert np.abs(wave[marked] - 6563.0).max() < 60  # and nothing far from the line
    # red channel is the min-max flux, line minimum -> 0
    assert int(_block(image, line)[0, 0, 0]) == 0


def test_roi_ignores_the_incomplete_median_windows():
    # a deep line at the very start: the centred median is undefined there (NaN)
    wave = np.linspace(3700.0, 9100.0, 3900)
    flux = 100.0 - _gaussian(wave, wave[5], 2.0, 40.0)
    image = render_reference(wave, flux, "roi")
    assert image[..., 1].max() == 0


def test_rolling_median_matches_pandas_centring():
    # pandas: Series(np.arange(10.) ** 2).rolling(4, center=True).median()
    expected = [np.nan, np.nan, 2.5, 6.5, 12.5, 20.5, 30.5, 42.5, 56.5, np.nan]
    np.testing.assert_array_equal(_rolling_median_centered(np.arange(10.0) ** 2, 4), expected)
    # pandas: Series(np.arange(7.) ** 2).rolling(5, center=True).median()
    expected = [np.nan, np.nan, 4.0, 9.0, 16.0, np.nan, np.nan]
    np.testing.assert_array_equal(_rolling_median_centered(np.arange(7.0) ** 2, 5), expected)
    assert np.isnan(_rolling_median_centered(np.arange(3.0), 4)).all()


def test_matplotlib_kinds_ignore_the_callers_rcparams(synthetic):
    wave, flux = synthetic
    default = render_reference(wave, flux, "plot")
    with matplotlib.rc_context({"lines.linewidth": 4.0, "figure.facecolor": "black"}):
        styled = render_reference(wave, flux, "plot")
        assert matplotlib.rcParams["lines.linewidth"] == 4.0  # left as the caller set it
    np.testing.assert_array_equal(styled, default)


def test_accepts_quantities(synthetic):
    u = pytest.importorskip("astropy.units")
    wave, flux = synthetic
    a = render_reference(wave * u.AA, flux * u.Unit("1e-17 erg / (s cm2 Angstrom)"), "map2dnormal")
    np.testing.assert_array_equal(a, render_reference(wave, flux, "map2dnormal"))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.arange(10.0), np.arange(10.0), "heatmap"), {}, "kind='heatmap'"),
        (
            (np.arange(10.0), np.arange(10.0), "map2dnormal"),
            {"fill_order": "hilbert"},
            "fill_order='hilbert'",
        ),
        ((np.arange(10.0), np.arange(10.0), "map2dnormal"), {"block_size": 0}, "block_size"),
        ((np.arange(10.0), np.arange(10.0), "map2dnormal"), {"block_size": 300}, "block_size"),
        ((np.arange(10.0), np.arange(9.0), "map2dnormal"), {}, "differ in length"),
        ((np.ones((2, 5)), np.ones((2, 5)), "map2dnormal"), {}, "1-D"),
        ((np.arange(10.0), np.ones(10), "map2dnormal"), {}, "flux is constant"),
        ((np.arange(10.0), np.arange(10.0), "map2dnormaldev"), {}, "first derivative"),
        ((np.arange(30.0), np.r_[np.nan, np.arange(29.0)], "roi"), {}, "flux has 1 non-finite"),
        ((np.arange(10.0), np.arange(10.0), "roi"), {}, "at least 25"),
        ((np.arange(4.0), np.arange(4.0), "overlapsplit"), {}, "at least 6"),
    ],
)
def test_clear_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_reference(*args, **kwargs)
