"""The image-learner layer: learners that render spectra to images on the fly.

:class:`ImageLearner` adds to :class:`~spectromer.models.base.SpectrumLearner` what
:class:`~spectromer.SpectromerModel` and
:class:`~spectromer.models.MaskedImagePretrainer` share and a learner of spectra on
their native grids does not need: the image parameters (``representation``,
``image_size``, ``render_options``, ``backbone``, ``backbone_options``), their
:class:`~spectromer.imaging.RenderConfig` (checked with the other parameters, before
any rendering) and the batches rendered by :class:`~spectromer.training.RenderedBatches`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ..imaging import RenderConfig
from ..spectra import SpectrumSource
from ..training import RenderedBatches, as_augmentation
from .base import SpectrumLearner

__all__ = ["ImageLearner"]


class ImageLearner(SpectrumLearner):
    """A :class:`~spectromer.models.base.SpectrumLearner` of spectra rendered to images.

    Parameters it relies on (besides the base's): ``backbone``, ``representation``,
    ``image_size``, ``render_options`` and ``backbone_options``. After ``fit``,
    ``render_config_`` says how the spectra are turned into images; a subclass may set
    ``standardizer_`` (a :class:`~spectromer.training.PixelStandardizer`), which is
    applied to every rendered batch.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **SpectrumLearner._parameter_constraints,
        "backbone": [str],
        "representation": [str],
        "image_size": [Interval(Integral, 1, None, closed="left")],
        "render_options": [dict, None],
        "backbone_options": [dict, None],
    }

    def _check_param_combinations(self) -> None:
        super()._check_param_combinations()
        self._render_config()  # refuses a bad kind, size or render option now

    def _image_params(self) -> tuple[Any, Any]:
        """``image_size`` and ``render_options`` as rendered (hook: a learner may resolve them)."""
        return self.image_size, self.render_options

    def _render_config(self) -> RenderConfig:
        """The RenderConfig of ``representation``, ``image_size`` and ``render_options``."""
        size, options = self._image_params()
        clash = {"kind", "size"} & set(options or {})
        if clash:
            raise ValueError(
                f"render_options may not set {sorted(clash)}: use representation= and image_size="
            )
        try:
            return RenderConfig(kind=self.representation, size=size, **(options or {}))
        except TypeError as err:
            raise ValueError(f"render_options: {err}") from None
        except ValueError as err:
            raise ValueError(
                f"representation={self.representation!r}, image_size={size!r}, "
                f"render_options={options!r}: {err}"
            ) from None

    def _prepare(self, source: SpectrumSource) -> None:
        self.render_config_ = self._render_config()

    def _pixel_transform(self) -> Any:
        return getattr(self, "standardizer_", None)

    def _images(self, source: SpectrumSource, targets: np.ndarray | None = None,
                augment: Any = None, seed: int = 0) -> RenderedBatches:  # fmt: skip
        """Rendered batches of ``source`` (with ``targets``, augmentation, the transform)."""
        return RenderedBatches(source, self.render_config_, targets, augment, seed,
                               self._pixel_transform())  # fmt: skip

    def _training_data(self, source: SpectrumSource, targets: np.ndarray, seed: int,
                       train: bool) -> RenderedBatches:  # fmt: skip
        if train:
            return self._images(source, targets, as_augmentation(self.augment), seed)
        return self._images(source, targets)

    def _fitted_config(self) -> dict[str, Any]:
        return {**super()._fitted_config(), "render_config": self.render_config_.to_dict()}

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Any) -> None:
        super()._restore_fitted(fitted, state, where)
        self.render_config_ = RenderConfig.from_dict(fitted["render_config"])
