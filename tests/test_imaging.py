"""Tests of the spectrum-to-image renderers (spectromer.imaging)."""

from __future__ import annotations

import pickle
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.nddata import InverseVariance
from hypothesis import given, settings
from hypothesis import strategies as st
from specutils import Spectrum

import spectromer  # noqa: F401  (installs Spectrum.to_image)
from spectromer.datasets import load_sample
from spectromer.imaging import (
    FILL_ORDERS,
    KINDS,
    RenderConfig,
    SpectrumToImage,
    fill_order,
    pixel_index_map,
    pixel_wavelengths,
    render,
    render_batches,
    save_images,
    to_image,
    values_from_image,
)
from spectromer.imaging.accessor import install_spectrum_method
from spectromer.imaging.layout import gilbert_curve


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _spec(wave, flux, mask=None, z=None):
    meta = {} if z is None else {"z": z}
    return Spectrum(
        flux=np.asarray(flux, float) * u.dimensionless_unscaled,
        spectral_axis=np.asarray(wave, float) * u.AA,
        uncertainty=InverseVariance(np.ones(len(flux))),
        mask=None if mask is None else np.asarray(mask, bool),
        meta=meta,
    )


def _lines(wave, centers=(4861.0, 6563.0), depth=0.6, width=4.0):
    flux = 1.0 + 0.0001 * (wave - 4000.0)
    for c in centers:
        flux = flux - depth * np.exp(-0.5 * ((wave - c) / width) ** 2)
    return flux


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("order", FILL_ORDERS)
def test_every_kind_and_order_shapes(sample, kind, order):
    imgs = render(sample, indices=[0, 1, 2], kind=kind, size=48, fill_order=order)
    assert imgs.shape == (3, 48, 48, 3) and imgs.dtype == np.uint8
    assert imgs.max() > 0
    f = render(sample, indices=[0], kind=kind, size=32, fill_order=order, output="float32")
    assert f.shape == (1, 3, 32, 32) and f.dtype == np.float32
    assert 0.0 <= f.min() and f.max() <= 1.0


def test_float_output_matches_uint8(sample):
    a = render(sample, indices=[0, 5], size=64)
    f = render(sample, indices=[0, 5], size=64, output="float32")
    np.testing.assert_array_equal(np.floor(f.transpose(0, 2, 3, 1) * 255.0).astype(np.uint8), a)


def test_mask_channel_and_grey_map2d(sample):
    imgs = render(sample, indices=[0], size=64, mask_channel=True)
    assert imgs.shape == (1, 64, 64, 4)
    grey = render(sample, indices=[0], kind="map2d", cmap=None, size=64)
    assert grey.shape == (1, 64, 64, 1)


# --------------------------------------------------------------------------- layout
def _slow_reference(values01: np.ndarray, size: int, block: int, order: str) -> np.ndarray:
    """Place floor(255 * v) block by block with Python loops, following the order."""
    rows = cols = size // block
    if order == "hilbert":
        cells = [tuple(rc) for rc in gilbert_curve(rows, cols)]
    else:
        cells = []
        for r in range(rows):
            cs = range(cols) if (order == "standard" or r % 2 == 0) else range(cols - 1, -1, -1)
            cells.extend((r, c) for c in cs)
    img = np.zeros((size, size), np.uint8)
    for k, value in enumerate(values01):
        if k >= len(cells):
            break
        r, c = cells[k]
        img[r * block : (r + 1) * block, c * block : (c + 1) * block] = int(255 * value)
    return img


@pytest.mark.parametrize("order", FILL_ORDERS)
@pytest.mark.parametrize("block", [1, 2, 3])
def test_value_lands_where_the_layout_says(order, block):
    rng = np.random.default_rng(block)
    n = 300
    wave = 4000.0 + np.arange(n)
    flux = rng.normal(10, 2, n)
    img = render(
        flux[None],
        wavelength=wave,
        kind="map2dnormal",
        grid="index",
        size=40,
        block_size=block,
        fill_order=order,
    )[0, :, :, 0]
    expected = _slow_reference((flux - flux.min()) / (flux.max() - flux.min()), 40, block, order)
    np.testing.assert_array_equal(img, expected)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), order=st.sampled_from(FILL_ORDERS))
def test_fill_order_is_a_permutation_with_local_steps(rows, cols, order):
    pos = fill_order(rows, cols, order)
    assert sorted(pos.tolist()) == list(range(rows * cols))
    r, c = np.divmod(pos, cols)
    steps = np.abs(np.diff(r)) + np.abs(np.diff(c))
    if order == "boustrophedon":
        assert (steps == 1).all()
    if order == "hilbert":  # edge-adjacent, except one diagonal step on odd x odd grids
        assert (steps[steps != 1] == 2).all() and (steps != 1).sum() <= 1


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(8, 70),
    w=st.integers(8, 70),
    block=st.integers(1, 4),
    order=st.sampled_from(FILL_ORDERS),
)
def test_index_map_round_trip(h, w, block, order):
    idx = pixel_index_map(h, w, block, order)
    rows, cols = h // block, w // block
    assert idx.max() == rows * cols - 1
    assert (idx[rows * block :] == -1).all() and (idx[:, cols * block :] == -1).all()
    np.testing.assert_array_equal(values_from_image(idx, block, order), np.arange(rows * cols))


# --------------------------------------------------------------------------- wavelength truth
def test_wavelength_true_grid_aligns_instruments():
    """The same star seen on two different pixel grids gives the same image."""
    w1 = np.geomspace(3700, 9100, 3909)  # LAMOST-like
    w2 = np.arange(3600.0, 9824.0, 0.8)  # DESI-like, other start and sampling
    s1, s2 = _spec(w1, _lines(w1)), _spec(w2, _lines(w2))
    opts = {"kind": "map2dnormal", "size": 64, "wave_range": (3800, 9000)}
    a = s1.to_image(**opts).astype(int)
    b = s2.to_image(**opts).astype(int)
    assert np.abs(a - b).mean() < 2.0
    # the published index mapping puts the lines at different pixels
    ai = s1.to_image(grid="index", **opts).astype(int)
    bi = s2.to_image(grid="index", **opts).astype(int)
    assert np.abs(ai - bi).mean() > 10 * np.abs(a - b).mean()


def test_rest_frame_shifts_lines_home():
    w = np.geomspace(3600, 10400, 5000)
    z = 0.2
    s0 = _spec(w, _lines(w), z=0.0)
    sz = _spec(w, _lines(w / (1 + z)), z=z)
    opts = {"kind": "map2dnormal", "size": 64, "frame": "rest", "wave_range": (3800, 8000)}
    a = s0.to_image(**opts).astype(int)
    b = sz.to_image(**opts).astype(int)
    assert np.abs(a - b).mean() < 2.0
    with pytest.raises(ValueError, match="needs a redshift"):
        _spec(w, _lines(w)).to_image(**opts)
    c = _spec(w, _lines(w / (1 + z))).to_image(z=z, **opts).astype(int)
    assert np.abs(a - c).mean() < 2.0


def test_pixel_wavelengths_follow_the_grid():
    cfg = RenderConfig(size=64, fill_order="hilbert", wave_range=(4000, 8000))
    wl = pixel_wavelengths(config=cfg)
    along = values_from_image(wl, cfg.resolved_block_size(), "hilbert")
    assert np.all(np.diff(along) > 0)
    assert along[0] == pytest.approx(4000) and along[-1] == pytest.approx(8000)
    with pytest.raises(ValueError, match="depend on the spectrum"):
        pixel_wavelengths(grid="index")


def test_coarse_grid_averages_instead_of_aliasing():
    rng = np.random.default_rng(0)
    w = np.geomspace(3800, 9000, 20000)
    noise = rng.normal(0, 1, w.size)
    s = _spec(w, 100 + noise)
    img = s.to_image(
        kind="map2d",
        normalization="fixed",
        vmin=95,
        vmax=105,
        size=16,
        wave_range=(3800, 9000),
        cmap=None,
    )[..., 0].astype(float)
    # 256 values from 20000 pixels: bin means have ~1/9 of the pixel noise
    assert img[img > 0].std() < 0.3 * 255 / 10


# --------------------------------------------------------------------------- bad pixels
def test_masked_pixels_never_leak():
    w = np.geomspace(3800, 9000, 3000)
    flux = _lines(w)
    mask = np.zeros(w.size, bool)
    mask[1000:1010] = True
    spiked = flux.copy()
    spiked[1000:1010] = 1e6  # garbage under the mask
    clean = _spec(w, flux).to_image(kind="map2dnormal", size=64)
    interp = _spec(w, spiked, mask).to_image(kind="map2dnormal", size=64)
    assert np.abs(clean.astype(int) - interp.astype(int)).max() <= 3
    zero = _spec(w, spiked, mask).to_image(
        kind="map2dnormal", size=64, mask_policy="zero", mask_channel=True
    )
    flagged = zero[..., 3] == 255
    assert flagged.any() and (zero[..., 0][flagged] == 0).all()
    nan = spiked.copy()
    nan[1000:1010] = np.nan  # NaN without a mask is bad too
    img = _spec(w, nan).to_image(kind="map2dnormal", size=64)
    assert np.abs(clean.astype(int) - img.astype(int)).max() <= 3


def test_constant_and_empty_spectra():
    w = np.linspace(4000, 8000, 500)
    const = _spec(w, np.full(w.size, 7.0)).to_image(kind="map2dnormaldev", size=32)
    inside = const[: 32 // 1, :, 0]
    assert set(np.unique(inside[inside > 0])) <= {127}
    nan = _spec(w, np.full(w.size, np.nan))
    with pytest.raises(ValueError, match="no valid"):
        nan.to_image(size=32)
    with pytest.warns(RuntimeWarning, match="no valid"):
        imgs = render([nan, _spec(w, _lines(w))], size=32)
    assert imgs[0].max() == 0 and imgs[1].max() > 0


def test_roi_marks_strong_lines():
    w = np.linspace(4000, 8000, 4000)
    s = _spec(w, _lines(w, centers=(5000.0,), depth=0.8, width=6.0))
    img = s.to_image(kind="roi", grid="stretch", size=64, block_size=1)
    g = values_from_image(img[..., 1], 1, "standard", n_values=4000)
    marked = np.flatnonzero(g == 50)
    lam = np.linspace(4000, 8000, 4096)[marked]
    assert marked.size > 0 and np.all(np.abs(lam - 5000) < 60)


def test_plot_draws_a_continuous_line():
    w = np.linspace(4000, 8000, 2000)
    img = _spec(w, w - 4000).to_image(kind="plot", size=64, grid="stretch")  # a rising ramp
    dark = img.min(axis=-1) < 200
    cols = np.flatnonzero(dark.any(axis=0))
    assert cols.size >= 58  # every column between the margins
    top = [np.flatnonzero(dark[:, c]).min() for c in cols]
    assert np.all(np.diff(top) <= 0)  # the line rises to the right
    over = _spec(w, _lines(w)).to_image(kind="overlapsplit", size=64)
    assert over.shape == (64, 64, 3) and (over < 255).any()


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 600),
    nan_frac=st.floats(0, 0.9),
    kind=st.sampled_from(KINDS),
    grid=st.sampled_from(["log", "linear", "index", "stretch"]),
    seed=st.integers(0, 1000),
)
def test_random_spectra_render(n, nan_frac, kind, grid, seed):
    rng = np.random.default_rng(seed)
    start = rng.uniform(3000, 8000)
    w = start + np.cumsum(rng.uniform(0.1, 5.0, n))
    flux = rng.normal(0, 1, n) * rng.uniform(1e-3, 1e6)
    flux[rng.random(n) < nan_frac] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        img = render([_spec(w, flux)], kind=kind, grid=grid, size=24, mask_channel=True)
    assert img.shape == (1, 24, 24, 4) and img.dtype == np.uint8


# --------------------------------------------------------------------------- API
def test_every_real_file_kind_to_image(data_dir):
    from spectromer.datasets import find_spectrum_files

    for path in find_spectrum_files(data_dir):
        spec = Spectrum.read(path)
        img = spec.to_image(size=32)
        assert img.shape == (32, 32, 3) and img.max() > 0, path.name


def test_spectrum1d_has_the_method():
    from specutils import Spectrum1D

    assert Spectrum1D.to_image is Spectrum.to_image


def test_never_overwrites_a_foreign_attribute():
    class Other:
        def to_image(self):
            return "theirs"

    with pytest.warns(RuntimeWarning, match="did not replace"):
        assert install_spectrum_method(Other) is False
    assert Other().to_image() == "theirs"
    assert install_spectrum_method(Spectrum) is True  # ours already: fine


def test_config_validation_and_round_trip():
    cfg = RenderConfig(kind="roi", size=(64, 96), fill_order="hilbert", wave_range=(4000, 9000))
    assert RenderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="kind must be one of"):
        RenderConfig(kind="spectrogram")
    with pytest.raises(ValueError, match="wave_range"):
        RenderConfig(wave_range=(9000, 4000))
    with pytest.raises(ValueError, match="block_size"):
        RenderConfig(size=32, block_size=40)
    with pytest.raises(TypeError, match="unknown render option"):
        render([], siez=32)
    with pytest.raises(ValueError, match="unknown render options"):
        RenderConfig.from_dict({"kind": "plot", "colour": "red"})
    q = RenderConfig(size=32)
    from spectromer.imaging.config import make_config

    assert make_config(q, wave_range=[5, 6] * u.um).wave_range == pytest.approx((5e4, 6e4))


# -- the kind registry ---------------------------------------------------------------------
def test_kind_facts_derive_the_names_and_the_config():
    from spectromer.imaging import registry
    from spectromer.imaging.config import BLOCK_KINDS
    from spectromer.imaging.reference import REFERENCE_KINDS

    kinds = registry.image_kinds()
    assert KINDS == tuple(k.name for k in kinds) == (
        "plot", "overlapsplit", "map2d", "map2dnormal", "map2dnormaldev", "roi"
    )  # fmt: skip
    assert BLOCK_KINDS == tuple(k.name for k in kinds if k.is_block)
    assert REFERENCE_KINDS == tuple(k.name for k in kinds if k.reference is not None) == KINDS
    for k in kinds:
        for mask in (False, True):
            for cmap in ("viridis", None):
                cfg = RenderConfig(kind=k.name, size=16, mask_channel=mask, cmap=cmap)
                assert cfg.is_block == k.is_block and cfg.norm == k.normalization
                assert cfg.channels == k.n_channels(mask, cmap)
                assert render(load_sample(), indices=[0], config=cfg).shape[-1] == cfg.channels
    grey = RenderConfig(kind="map2d", cmap=None)
    assert (grey.channels, grey.replace(mask_channel=True).channels, grey.norm) == (1, 2, "fixed")
    assert RenderConfig(kind="plot", cmap=None).channels == 3  # no colour map: not affected
    assert RenderConfig(kind="map2d", normalization="median").norm == "median"
    with pytest.raises(ValueError, match="unknown kind 'nope'; available: plot"):
        registry.get_kind("nope")


def test_a_registered_kind_is_picked_up_everywhere(sample, monkeypatch):
    from spectromer.imaging import registry
    from spectromer.imaging.config import BLOCK_KINDS
    from spectromer.imaging.kinds import _plot
    from spectromer.imaging.reference import REFERENCE_KINDS, render_reference

    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))  # undone after the test

    @registry.register_kind("fluxtwice", channels=2, normalization="median")
    def fluxtwice(values, config):
        x = np.where(values.inside, values.values, 0.0)
        top = np.maximum(x.max(axis=1, keepdims=True), 1e-30)
        return [x / top, 0.5 * x / top]

    registry.register_kind("plotagain", block=False)(_plot)
    assert KINDS[-2:] == ("fluxtwice", "plotagain") and len(KINDS) == 8
    assert "fluxtwice" in BLOCK_KINDS and "plotagain" not in BLOCK_KINDS
    assert "fluxtwice" not in REFERENCE_KINDS
    cfg = RenderConfig(kind="fluxtwice", size=16)
    assert (cfg.is_block, cfg.norm, cfg.channels) == (True, "median", 2)
    assert cfg.replace(mask_channel=True).channels == 3
    # more spectra than one chunk: the output is allocated from the derived channel count
    imgs = render(sample, indices=range(70), config=cfg, output="float32")
    assert imgs.shape == (70, 2, 16, 16)
    np.testing.assert_allclose(imgs[:, 1], 0.5 * imgs[:, 0], atol=1e-6)
    again = render(sample, indices=range(3), kind="plotagain", size=16)
    np.testing.assert_array_equal(again, render(sample, indices=range(3), kind="plot", size=16))
    with pytest.raises(ValueError, match="is not one of"):
        render_reference(np.arange(100.0), np.ones(100), "fluxtwice")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_kind("fluxtwice")(fluxtwice)
    with pytest.raises(ValueError, match="normalization must be one of"):
        registry.register_kind("bad", normalization="log")
    with pytest.raises(ValueError, match="channels must be a positive int"):
        registry.register_kind("bad", channels=0)
    registry.unregister_kind("plotagain")
    assert "plotagain" not in KINDS
    with pytest.raises(ValueError, match="kind must be one of"):
        RenderConfig(kind="plotagain")
    monkeypatch.undo()
    assert "fluxtwice" not in KINDS and len(KINDS) == 6


def test_render_batches_stream(sample):
    sizes = [b.shape[0] for b in render_batches(sample, indices=range(10), batch_size=4, size=32)]
    assert sizes == [4, 4, 2]


def test_transform_pickles_and_matches_render(sample):
    t = SpectrumToImage(kind="map2dnormaldev", size=32, as_tensor=False)
    t2 = pickle.loads(pickle.dumps(t))
    a = t2(sample.arrays(3))
    b = render(sample, indices=[3], size=32, output="float32")[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(t(sample[3]), b, atol=1e-6)
    with pytest.raises(TypeError, match="expected a specutils Spectrum"):
        t([1, 2, 3])


def test_save_images(sample, tmp_path):
    from PIL import Image

    paths = save_images(sample, tmp_path, indices=[0, 1, 2], size=32, progress=False)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    assert paths[0].stem.startswith("spec-")
    assert np.asarray(Image.open(paths[0])).shape == (32, 32, 3)
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".png"]
    with pytest.raises(ValueError, match="unique"):
        save_images(sample, tmp_path, indices=[0, 1], names=["a", "a"], progress=False)


def test_flux_array_input_errors():
    with pytest.raises(ValueError, match="wavelength"):
        render(np.ones((2, 10)))
    with pytest.raises(ValueError, match=r"wavelength has shape \(9,\)"):
        render(np.ones((2, 10)), wavelength=np.arange(9.0))
    with pytest.raises(ValueError, match=r"wavelength has shape \(3, 10\)"):
        render(np.ones((2, 10)), wavelength=np.ones((3, 10)))
    with pytest.raises(TypeError, match="not a specutils Spectrum"):
        render(["a", "b"])
    with pytest.raises(ValueError, match="without wavelength"):
        render([[1.0, 2.0, 3.0]])  # rows of numbers are a flux array, here without a grid
    assert to_image(_spec(np.linspace(4000, 5000, 50), np.arange(50.0)), size=16).shape == (
        16,
        16,
        3,
    )


@pytest.mark.parametrize("kind", ["map2dnormal", "map2dnormaldev"])
@pytest.mark.parametrize("order", ["standard", "boustrophedon"])
def test_index_grid_reproduces_the_published_renderer(data_dir, kind, order):
    """grid="index" is pixel for pixel the published method (reference re-implementation)."""
    from astropy.io import fits

    from spectromer.imaging.reference import render_reference

    table = fits.getdata(data_dir / "spec-59517-EG025613N082253M02_sp08-200.fits.gz", 1)
    wave = table["WAVELENGTH"][0].astype(float)
    flux = table["FLUX"][0].astype(float)
    ref = render_reference(wave, flux, kind, block_size=3, fill_order=order)
    fast = render(
        flux[None], wavelength=wave, kind=kind, grid="index", block_size=3, fill_order=order
    )[0]
    np.testing.assert_array_equal(fast, ref)


def test_cli_render(data_dir, tmp_path, capsys):
    from spectromer.cli import main
    from spectromer.datasets import sample_path

    assert (
        main(
            [
                "render",
                str(sample_path()),
                "--out",
                str(tmp_path / "a"),
                "--limit",
                "3",
                "--size",
                "32",
                "--fill-order",
                "hilbert",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "a").glob("*.png"))) == 3
    assert (
        main(
            [
                "render",
                str(data_dir),
                "--out",
                str(tmp_path / "b"),
                "--kind",
                "plot",
                "--size",
                "32",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "image(s) of 32x32" in capsys.readouterr().out
    assert len(list((tmp_path / "b").glob("*.png"))) >= 7


# --------------------------------------------------------------------------- fast paths
def _edge_masked_spectra():
    """Spectra of different lengths, some with masked pixels at both ends and inside."""
    rng = np.random.default_rng(3)
    out = []
    for i, n in enumerate((900, 1200, 1000, 1200, 700)):
        wave = np.geomspace(3700.0 + 40 * i, 9000.0, n)
        flux = _lines(wave) + rng.normal(0.0, 0.01, n)
        mask = np.zeros(n, bool)
        mask[: 3 * i] = True  # leading
        mask[n - 5 * i :] = True  # trailing
        mask[n // 2 : n // 2 + i + 1] = True  # inside
        out.append(_spec(wave, flux, mask))
    return out


@pytest.mark.parametrize("kind", ["map2dnormaldev", "plot"])
@pytest.mark.parametrize("grid", ["log", "index", "stretch"])
def test_each_spectrum_renders_as_if_alone(kind, grid):
    # masked edge pixels and the bin means used by coarse grids never look at
    # a neighbouring spectrum, so the batch size changes no value
    specs = _edge_masked_spectra()
    options = dict(kind=kind, grid=grid, size=64, block_size=1 if kind != "plot" else None)
    together = render(specs, batch_size=len(specs), output="float32", **options)
    alone = render(specs, batch_size=1, output="float32", **options)
    assert np.array_equal(together, alone)


def test_fill_masked_is_numpy_interp_per_row():
    from spectromer.imaging.prepare import _fill_masked, as_batch

    batch = as_batch(_edge_masked_spectra())
    good = batch.good
    width = good.shape[1]
    bad = ~good & (np.arange(width) < batch.length[:, None])
    has = good.any(axis=1)
    first = np.argmax(good, axis=1)
    last = width - 1 - np.argmax(good[:, ::-1], axis=1)
    filled = _fill_masked(batch, bad, has, first, last)
    for i in range(len(batch)):
        k = batch.length[i]
        x = np.arange(k)
        g = good[i, :k]
        expected = np.interp(x, x[g], batch.flux[i, :k][g].astype(np.float64))
        assert np.array_equal(filled[i, :k], expected.astype(np.float32))


@pytest.mark.parametrize("order", FILL_ORDERS)
@pytest.mark.parametrize(("size", "block"), [(48, 3), ((40, 52), 2), (32, 4)])
def test_packed_rgb_layout_matches_the_generic_one(order, size, block):
    from spectromer.imaging.kinds import _levels, _place_blocks, _place_rgb_levels

    cfg = RenderConfig(size=size, block_size=block, fill_order=order)
    m = cfg.n_values()
    rng = np.random.default_rng(0)
    chans = [rng.random((3, m), dtype=np.float32), None, rng.random((3, m), dtype=np.float32)]
    chans[0][0, :5] = [0.0, 1.0, 0.999, 1.5, -0.5]
    fast = _place_rgb_levels(chans, cfg, 3)
    levels = [None if c is None else _levels(c).astype(np.uint8) for c in chans]
    generic = _place_blocks(levels, cfg, np.uint8, 3)
    assert np.array_equal(fast, generic)
    # and the generic layout shows value k of the fill order in block k
    idx = pixel_index_map(*cfg.shape, block, order)
    assert np.array_equal(generic[0, ..., 0][idx >= 0], levels[0][0][idx[idx >= 0]])
    assert (generic[:, idx < 0] == 0).all()


# -- sizes: whole numbers only, and images that fit ----------------------------------------


@pytest.mark.parametrize("size", [64.0, np.int64(64), (64.0, 48), [64, 48]])
def test_whole_number_sizes_are_accepted_as_ints(size):
    cfg = RenderConfig(size=size)
    assert all(type(v) is int for v in cfg.shape)
    assert cfg == RenderConfig(size=tuple(size) if isinstance(size, list | tuple) else 64)


@pytest.mark.parametrize("size", [64.5, (64, 48.5), True, "64", (64,), None])
def test_non_integer_sizes_are_refused(size):
    with pytest.raises(ValueError, match="size must be"):
        RenderConfig(size=size)


def test_huge_sizes_are_refused_with_the_bytes():
    with pytest.raises(ValueError, match=r"at most 4096 pixels.*27\.9 GiB"):
        RenderConfig(size=100000)


def test_render_refuses_images_that_do_not_fit(sample, monkeypatch):
    from spectromer.imaging import config as config_module

    monkeypatch.setattr(config_module, "available_memory", lambda: 100_000)
    # 8 x 64 x 64 x 3 uint8 = 98304 bytes fit; float32 (4x) do not
    assert render(sample, indices=range(8), size=64).shape == (8, 64, 64, 3)
    with pytest.raises(MemoryError, match=r"393216 bytes.*render_batches"):
        render(sample, indices=range(8), size=64, output="float32")
    # render_batches keeps memory per batch, so it still works
    batches = list(render_batches(sample, indices=range(8), size=64, batch_size=2))
    assert len(batches) == 4
