"""The options of one render as one checked record: ``VolumeRenderer.render``'s keywords other
than the volume, the camera, the image size and the channel axis.

``render``, ``render_rgba`` and ``render_rays`` make a ``RenderSettings`` of their keywords and hand
it on whole (to ``VolumeRenderer._render``, ``channel_context.render_channels`` and
``tools/ray_batches``), so each option is listed once here, with the checks that need nothing
else. Those that need the volume (its value range, the clip geometry in its box, the level's
range) come later, where the volume is known.

Example:
    >>> settings = RenderSettings(compositing="mip", use_lighting=False)
    >>> settings.replace(value_range=(0.0, 1.0)).value_range
    (0.0, 1.0)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ._checks import check_choice, check_flags, check_termination
from .stages.compositing import STRATEGIES
from .stages.label_map import LabelMap
from .stages.labels import LABEL_MODES

__all__ = ["RenderSettings"]


@dataclasses.dataclass(frozen=True, kw_only=True)  # by name: the render methods' order is theirs
class RenderSettings:
    """What one render does besides which volume it reads, from where and at what size
    (``VolumeRenderer.render`` documents each option). Made, it is checked: flags are bools,
    names known, ``should_stop`` callable, ``termination`` in [0, 0.5], ``labels`` a ``LabelMap``."""

    n_samples: int | None = None
    step_size: float | None = None
    value_range: Any = None
    use_opacity: bool = True
    use_color: bool = True
    use_lighting: bool = True
    compositing: str = "vectorized"
    should_stop: Callable[[], bool] | None = None
    clip_box: Any = None
    clip_planes: Any = ()
    level: int | str = 0
    labels: Any = None
    label_mode: str = "blend"
    termination: float | None = None
    jitter: bool = False

    def __post_init__(self) -> None:
        check_flags(use_opacity=self.use_opacity, use_color=self.use_color, use_lighting=self.use_lighting,
                    jitter=self.jitter)
        check_choice("compositing", self.compositing, tuple(STRATEGIES))
        check_choice("label_mode", self.label_mode, LABEL_MODES)
        if self.should_stop is not None and not callable(self.should_stop):
            raise TypeError(f"should_stop must be a function returning a bool, got {type(self.should_stop).__name__}")
        object.__setattr__(self, "termination", check_termination(self.termination))
        if self.labels is not None and not isinstance(self.labels, LabelMap):
            object.__setattr__(self, "labels", LabelMap(self.labels))

    @classmethod
    def of(cls, arguments: dict) -> "RenderSettings":
        """The settings named in ``arguments`` (a render method's ``locals()``, or options meant
        for one); other names are left out: ``RenderSettings.of(dict(compositing="mip", camera=c))``."""
        return cls(**{field.name: arguments[field.name] for field in dataclasses.fields(cls) if field.name in arguments})

    def replace(self, **changes) -> "RenderSettings":
        """A copy with ``changes`` (checked again): ``settings.replace(value_range=(0, 1))``."""
        return dataclasses.replace(self, **changes)
