"""Stage 4 of the pipeline: classification, mapping scalars in [0, 1] to opacity and colour.

Both transfer functions are piecewise linear through control points ``(s, value)``, with ``s``
in [0, 1] of the transfer-function domain (``value_range`` maps the volume onto it). Lookups
interpolate linearly between knots, so they are differentiable with respect to the scalar and
to the control values. Opacity is the opacity accumulated over one unit distance
(``opacity_unit_distance``, see the Conventions page of the documentation, docs/conventions.md).

Learning: ``tf.parameters()`` (or ``tf.requires_grad_()``) makes the values learnable
through logits that keep them in [0, 1] (``piecewise_linear.py`` describes the parameterisation).
The knots, the lookup and that parameterisation live in ``piecewise_linear.py``; this module
holds the two transfer functions, their presets and the combined lookup table.

Example:
    >>> otf = OpacityTransferFunction.linear(0.0, 0.1)
    >>> ctf = ColorTransferFunction("hot")
    >>> opacity, rgb = otf(torch.rand(10)), ctf(torch.rand(10))
    >>> tuple(opacity.shape), tuple(rgb.shape)
    ((10,), (10, 3))
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

from .._checks import _short, check_finite_number
from .piecewise_linear import (KnotTable, TransferFunction, _PiecewiseLinear, _split_points,
                               interpolate_piecewise_linear, rgba_table)

__all__ = ["OpacityTransferFunction", "ColorTransferFunction", "TransferFunction", "KnotTable", "check_transfer_function",
           "interpolate_piecewise_linear", "rgba_table", "short_float"]


class OpacityTransferFunction(_PiecewiseLinear):
    """Scalar (in [0, 1]) → opacity per unit distance, piecewise linear.

    Example:
        >>> otf = OpacityTransferFunction([(0.0, 0.0), (0.3, 0.0), (1.0, 0.8)])
        >>> otf(torch.tensor([0.0, 0.3, 0.65, 1.0]))
        tensor([0.0000, 0.0000, 0.4000, 0.8000])
        >>> otf.add_control_point(0.6, 0.2).get_control_points()[2]   # edits return the function
        (0.6, 0.2)
    """

    _kind = "opacity"

    def __init__(self, control_points: Sequence[tuple[float, float]] = ((0.0, 0.0), (1.0, 1.0)), device="cpu"):
        positions, values = _split_points(control_points, "control_points", 1)
        super().__init__(positions, values, device)

    def __call__(self, scalars: torch.Tensor) -> torch.Tensor:
        """Opacity per unit distance for ``scalars`` of any shape ``(...)``; returns ``(...)``."""
        return self.table()(_numbers(scalars))[..., 0]

    # ---- presets ------------------------------------------------------------------------
    @classmethod
    def linear(cls, min_opacity: float = 0.0, max_opacity: float = 1.0, device="cpu"):
        """Opacity rising linearly from ``min_opacity`` at s=0 to ``max_opacity`` at s=1."""
        min_opacity = check_finite_number("min_opacity", min_opacity, minimum=0.0, maximum=1.0)
        max_opacity = check_finite_number("max_opacity", max_opacity, minimum=0.0, maximum=1.0)
        return cls([(0.0, min_opacity), (1.0, max_opacity)], device=device)

    @classmethod
    def ramp(cls, start: float = 0.2, end: float = 0.8, max_opacity: float = 1.0, min_opacity: float = 0.0,
             device="cpu"):
        """``min_opacity`` up to ``start``, rising linearly to ``max_opacity`` at ``end``, flat after."""
        start = check_finite_number("start", start, minimum=0.0, maximum=1.0)
        end = check_finite_number("end", end, minimum=0.0, maximum=1.0)
        if not start < end:
            raise ValueError(f"ramp needs start < end, got start={start}, end={end}")
        return cls(_edge(start, end, min_opacity, max_opacity), device=device)

    @classmethod
    def step(cls, threshold: float = 0.5, low: float = 0.0, high: float = 1.0, width: float = 1e-3,
             device="cpu"):
        """``low`` below ``threshold``, ``high`` above, joined by a linear edge ``width`` wide
        (a true jump would have no gradient with respect to the scalar)."""
        threshold = check_finite_number("threshold", threshold, minimum=0.0, maximum=1.0)
        width = check_finite_number("width", width, minimum=1e-6, maximum=1.0)  # an edge, not a ramp; knots apart
        return cls(_edge(max(0.0, threshold - width / 2), min(1.0, threshold + width / 2), low, high), device=device)

    @classmethod
    def exponential(cls, min_opacity: float = 0.0, max_opacity: float = 1.0, steepness: float = 4.0,
                    n_points: int = 33, device="cpu"):
        """``min + (max − min)·(e^{k s} − 1)/(e^k − 1)`` with k = ``steepness``, on ``n_points`` knots."""
        k = check_finite_number("steepness", steepness, positive=True)
        s = np.linspace(0.0, 1.0, _check_n_points(n_points))
        # (e^{ks} − 1)/(e^k − 1) written as e^{k(s−1)}·(1 − e^{−ks})/(1 − e^{−k}): no overflow for any k.
        a = min_opacity + (max_opacity - min_opacity) * np.exp(k * (s - 1)) * np.expm1(-k * s) / math.expm1(-k)
        return cls(list(zip(s, a)), device=device)

    @classmethod
    def bell_curve(cls, center: float = 0.5, width: float = 0.15, max_opacity: float = 1.0,
                   n_points: int = 33, device="cpu"):
        """A Gaussian bump ``max·exp(−(s − center)²/(2·width²))`` on ``n_points`` evenly spaced
        knots, and one at ``center`` when none falls there, so the curve reaches its peak."""
        center = check_finite_number("center", center, minimum=0.0, maximum=1.0)
        width = check_finite_number("width", width, minimum=1e-6, maximum=1e6)  # exp(−(s−c)²/2w²) stays finite
        s = np.linspace(0.0, 1.0, _check_n_points(n_points))
        if np.abs(s - center).min() > 1e-9:
            s = np.sort(np.append(s, center))
        a = max_opacity * np.exp(-((s - center) ** 2) / (2 * width ** 2))
        return cls(list(zip(s, a)), device=device)

    @classmethod
    def auto(cls, volume, value_range=None, device="cpu", **options) -> "OpacityTransferFunction":
        """A ramp chosen from ``volume``'s histogram: transparent up to the 50th percentile of its
        non-background values, rising to the 95th, its top opacity scaled to the volume's size so
        that a typical ray through the object accumulates 0.99 (see ``auto_tf.auto_opacity_points``,
        whose keyword ``options`` it takes). Control points are in the transfer-function domain of
        ``value_range`` (default ``auto_tf.auto_value_range(volume)``, which pass to the renderer too).

        Example:
            >>> from pyvr_jupyter.torch_renderer.tools.auto_tf import auto_value_range
            >>> volume = torch.linspace(0, 1, 16).repeat(16, 16, 1)      # (16, 16, 16), a ramp along x
            >>> window = auto_value_range(volume)                         # pass it to render() too
            >>> otf = OpacityTransferFunction.auto(volume, window)
            >>> [round(s, 2) for s, _ in otf.get_control_points()]
            [0.0, 0.53, 1.0]
        """
        from ..tools.auto_tf import auto_opacity_points

        return cls(auto_opacity_points(volume, value_range, **options), device=device)

    @classmethod
    def from_lut(cls, values, device="cpu"):
        """A dense table of opacities on evenly spaced knots over [0, 1] (K,), K >= 2.
        A tensor with ``requires_grad`` keeps its graph (values are then used as given)."""
        otf = cls.__new__(cls)
        n = _lut_length(values)
        positions = np.linspace(0.0, 1.0, n) if n >= 2 else np.zeros(n)
        _PiecewiseLinear.__init__(otf, positions, values, device, uniform=True)
        return otf

    # ---- editing ------------------------------------------------------------------------
    def get_control_points(self) -> list[tuple[float, float]]:
        """The control points as ``[(s, opacity), ...]`` floats, sorted by ``s``.

        Example:
            >>> OpacityTransferFunction.linear(0.0, 0.5).get_control_points()
            [(0.0, 0.0), (1.0, 0.5)]
        """
        return list(zip(_decimals(self.positions), _decimals(self.values[:, 0])))

    def set_control_points(self, control_points) -> "OpacityTransferFunction":
        """Replace every control point with ``[(s, opacity), ...]`` (at least two, ``s`` in [0, 1],
        opacities in [0, 1]; sorted by ``s`` here). Returns self.

        Raises:
            ValueError: on fewer than two points, values outside [0, 1], repeated ``s``, or a change
                of the number of points while the function is learnable.
        """
        positions, values = _split_points(control_points, "control_points", 1)
        self._set(positions, values)
        return self

    def add_control_point(self, s: float, opacity: float) -> "OpacityTransferFunction":
        """Insert (or replace, at an existing ``s``) one control point."""
        s = check_finite_number("s", s)
        points = [p for p in self.get_control_points() if p[0] != s] + [(s, opacity)]
        return self.set_control_points(points)

    def remove_control_point(self, index: int) -> "OpacityTransferFunction":
        """Remove the ``index``-th control point (in order of ``s``; negative indices count from
        the end). Returns self.

        Raises:
            IndexError: when there is no such point.
            ValueError: when only two points are left.

        Example:
            >>> OpacityTransferFunction([(0, 0), (0.5, 1), (1, 0)]).remove_control_point(1).get_control_points()
            [(0.0, 0.0), (1.0, 0.0)]
        """
        points = self.get_control_points()
        if (isinstance(index, bool) or not isinstance(index, (int, np.integer))
                or not -len(points) <= index < len(points)):  # True is no index (it read as 1)
            raise IndexError(f"index {index!r} out of range for {len(points)} control points")
        if len(points) <= 2:
            raise ValueError("an opacity transfer function needs at least two control points")
        del points[index]
        return self.set_control_points(points)

    # ---- (de)serialisation and display --------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe description, ``{"type": "opacity", "control_points": [[s, opacity], ...]}``.

        Example:
            >>> import json
            >>> text = json.dumps(OpacityTransferFunction.linear(0.0, 0.5).to_dict())
            >>> OpacityTransferFunction.from_dict(json.loads(text))
            OpacityTransferFunction([(0.0, 0.0), (1.0, 0.5)])
        """
        return {"type": "opacity", "control_points": [list(p) for p in self.get_control_points()]}

    @classmethod
    def from_dict(cls, data: dict, device="cpu") -> "OpacityTransferFunction":
        """The function that ``to_dict`` described.

        Raises:
            ValueError: when ``data`` does not describe an opacity transfer function.
        """
        if not isinstance(data, dict) or data.get("type", "opacity") != "opacity" or "control_points" not in data:
            raise ValueError(f"not an opacity transfer function description: {_short(data)}")
        return cls(data["control_points"], device=device)

    def plot(self, ax=None, color_tf: "ColorTransferFunction | None" = None, **kwargs):
        """Draw the opacity curve (filled with the colour map when ``color_tf`` is given)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 2.5))
        s = torch.linspace(0, 1, 256, device=self.device)
        a = self(s).detach().cpu().numpy()
        ax.plot(s.cpu().numpy(), a, color="k", **kwargs)
        points = np.array(self.get_control_points())
        ax.plot(points[:, 0], points[:, 1], "o", color="k", ms=4)
        if color_tf is not None:
            rgb = color_tf(s).detach().cpu().numpy()
            for i in range(255):
                ax.fill_between(s[i:i + 2].cpu().numpy(), 0, a[i:i + 2], color=rgb[i], lw=0)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, max(1e-3, float(a.max())) * 1.05)
        ax.set_xlabel("scalar (transfer-function domain)")
        ax.set_ylabel("opacity per unit distance")
        return ax

    def __repr__(self) -> str:
        return f"OpacityTransferFunction({self.get_control_points()})"


def short_float(value: float) -> float:
    """``value``, or when it is a float32 value (the transfer functions keep their points in
    float32) the shortest decimal that reads back as that float32: 0.3 rather than
    0.30000001192092896. Reading it back gives the same float32.

    Example:
        >>> short_float(float(np.float32(0.3))), short_float(0.1 + 0.2)
        (0.3, 0.30000000000000004)
    """
    if not math.isfinite(value) or float(np.float32(value)) != value:
        return value  # a float64 value: Python's repr is already the shortest
    return float(str(np.float32(value)))  # numpy prints the shortest that reads back


def _decimals(values: torch.Tensor) -> list[float]:
    """``values`` (n,) as Python floats, float32 ones as ``short_float`` writes them (0.7, not
    0.699999988079071): what users see printed and saved."""
    return [short_float(value) for value in values.detach().cpu().tolist()]


def _edge(start: float, end: float, low: float, high: float) -> list[tuple[float, float]]:
    """Control points: ``low`` until ``start``, linear up to ``high`` at ``end``, flat after."""
    return ([(0.0, low)] if start > 0 else []) + [(start, low), (end, high)] + ([(1.0, high)] if end < 1 else [])


#: The most knots a table holds: a preset's ``n_points``, a colormap's ``n_entries``, a ``from_lut`` table.
MAX_TABLE_ENTRIES = 65536


def _check_n_points(n_points, name: str = "n_points") -> int:
    if not isinstance(n_points, (int, np.integer)) or isinstance(n_points, bool) or \
            not 2 <= n_points <= MAX_TABLE_ENTRIES:
        raise ValueError(f"{name} must be an integer in [2, {MAX_TABLE_ENTRIES}], got {n_points!r}")
    return int(n_points)


def _lut_length(values) -> int:
    """The entry count of a ``from_lut`` table: a sequence, array or tensor of two or more."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise TypeError(f"values must be a table (a list, array or tensor) of two or more entries, got "
                        f"{type(values).__name__}")
    if len(values) > MAX_TABLE_ENTRIES:  # 10^8 entries took 86 s and 7 GB before a misleading error
        raise ValueError(f"values has {len(values)} entries; a table holds at most {MAX_TABLE_ENTRIES} "
                         f"(resample it, e.g. with np.interp)")
    return len(values)


def _numbers(scalars: torch.Tensor) -> torch.Tensor:
    """``scalars``, refused when a NaN is among them (the lookup would index out of range, or on a
    GPU assert); ±inf clamp to the table's ends."""
    if not isinstance(scalars, torch.Tensor):
        raise TypeError(f"scalars must be a tensor, got {type(scalars).__name__}")
    if bool(torch.isnan(scalars.detach()).any()):
        raise ValueError("scalars contain NaN: a transfer function maps numbers")
    return scalars


def _resolve_colormap(colormap):
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(colormap, Colormap):
        return colormap
    if not isinstance(colormap, str):
        raise TypeError(f"colormap must be a matplotlib colormap name or object, got {_short(colormap)}")
    try:
        return matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r}; see matplotlib.colormaps for names") from None


def _registered_name(cmap, n_entries: int) -> str | None:
    """``cmap``'s name when matplotlib's registry gives the same colours under it (``to_dict`` then
    writes the name), else None (it writes the control points: a map of the user's own)."""
    import matplotlib

    registered = matplotlib.colormaps.get(cmap.name)
    samples = np.linspace(0.0, 1.0, n_entries)
    return cmap.name if registered is not None and np.allclose(registered(samples), cmap(samples)) else None


class ColorTransferFunction(_PiecewiseLinear):
    """Scalar (in [0, 1]) → RGB in [0, 1], from a matplotlib colormap or custom control points.

    Example:
        >>> ctf = ColorTransferFunction("viridis")
        >>> ctf(torch.rand(4, 5)).shape
        torch.Size([4, 5, 3])
        >>> ctf.set_custom_colors([(0.0, (0, 0, 0)), (1.0, (1, 0.5, 0))])(torch.tensor([0.5]))
        tensor([[0.5000, 0.2500, 0.0000]])
    """

    n_channels = 3
    _kind = "color"

    def __init__(self, colormap="viridis", n_entries: int = 256, device="cpu"):
        cmap = _resolve_colormap(colormap)
        n_entries = _check_n_points(n_entries, "n_entries")
        table = cmap(np.linspace(0.0, 1.0, n_entries))[:, :3]
        self.colormap_name: str | None = colormap if isinstance(colormap, str) else _registered_name(cmap, n_entries)
        super().__init__(np.linspace(0.0, 1.0, n_entries), table, device, uniform=True)

    def __call__(self, scalars: torch.Tensor) -> torch.Tensor:
        """RGB for ``scalars`` of any shape ``(...)``; returns ``(..., 3)``."""
        return self.table()(_numbers(scalars))

    def set_colormap(self, colormap, n_entries: int = 256) -> "ColorTransferFunction":
        """Replace the map with a matplotlib colormap (a name or a ``Colormap``), sampled at
        ``n_entries`` evenly spaced knots. Returns self.

        Example:
            >>> ColorTransferFunction("viridis").set_colormap("gray", n_entries=3)(torch.tensor([1.0]))
            tensor([[1., 1., 1.]])
        """
        cmap = _resolve_colormap(colormap)
        n_entries = _check_n_points(n_entries, "n_entries")
        self._set(np.linspace(0.0, 1.0, n_entries), cmap(np.linspace(0.0, 1.0, n_entries))[:, :3], uniform=True)
        self.colormap_name = colormap if isinstance(colormap, str) else _registered_name(cmap, n_entries)
        return self

    def set_custom_colors(self, control_points: Iterable) -> "ColorTransferFunction":
        """Replace the map with ``[(s, (r, g, b)), ...]`` (interpolated linearly). Returns self."""
        positions, values = _split_points(list(control_points), "control_points", 3)
        self._set(positions, values)
        self.colormap_name = None
        return self

    @classmethod
    def from_lut(cls, values, device="cpu") -> "ColorTransferFunction":
        """A dense (K, 3) table of colours on evenly spaced knots over [0, 1]."""
        ctf = cls.__new__(cls)
        n = _lut_length(values)
        positions = np.linspace(0.0, 1.0, n) if n >= 2 else np.zeros(n)
        _PiecewiseLinear.__init__(ctf, positions, values, device, uniform=True)
        ctf.colormap_name = None
        return ctf

    def get_control_points(self) -> list[tuple[float, tuple[float, float, float]]]:
        """The knots as ``[(s, (r, g, b)), ...]`` floats (a colormap gives ``n_entries`` of them)."""
        rgbs = zip(*(_decimals(self.values[:, channel]) for channel in range(3)))
        return list(zip(_decimals(self.positions), rgbs))

    def to_dict(self) -> dict:
        """JSON-safe description: ``{"type": "color", "colormap": name, "n_entries": n}`` for a named
        colormap, else ``{"type": "color", "control_points": [[s, [r, g, b]], ...]}``.

        Example:
            >>> ColorTransferFunction("hot").to_dict()
            {'type': 'color', 'colormap': 'hot', 'n_entries': 256}
        """
        if self.colormap_name is not None and self._logits is None:
            return {"type": "color", "colormap": self.colormap_name, "n_entries": int(self.positions.shape[0])}
        return {"type": "color", "control_points": [[s, list(rgb)] for s, rgb in self.get_control_points()]}

    @classmethod
    def from_dict(cls, data: dict, device="cpu") -> "ColorTransferFunction":
        """The function that ``to_dict`` described.

        Raises:
            ValueError: when ``data`` does not describe a colour transfer function.
        """
        if not isinstance(data, dict) or data.get("type", "color") != "color":
            raise ValueError(f"not a colour transfer function description: {_short(data)}")
        if "colormap" in data:
            return cls(data["colormap"], n_entries=data.get("n_entries", 256), device=device)
        if "control_points" in data:
            return cls(device=device).set_custom_colors(data["control_points"])
        raise ValueError(f"colour transfer function description needs 'colormap' or 'control_points': {_short(data)}")

    def plot(self, ax=None):
        """Draw the colour map as a horizontal bar."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 0.6))
        rgb = self(torch.linspace(0, 1, 256, device=self.device)).detach().cpu().numpy()
        ax.imshow(rgb[None], aspect="auto", extent=(0, 1, 0, 1))
        ax.set_yticks([])
        ax.set_xlabel("scalar (transfer-function domain)")
        return ax

    def __repr__(self) -> str:
        if self.colormap_name is not None:
            return f"ColorTransferFunction({self.colormap_name!r})"
        return f"ColorTransferFunction.custom({len(self.positions)} points)"


def check_transfer_function(name: str, tf, n_channels: int) -> TransferFunction:
    """``tf`` when it is a ``TransferFunction`` of ``n_channels`` channels (1: opacity, 3:
    colour), else a TypeError naming ``name``.

    Example: ``renderer.opacity_tf = check_transfer_function("opacity_tf", tf, 1)``"""
    if not isinstance(tf, TransferFunction) or tf.n_channels != n_channels:
        kind = "OpacityTransferFunction" if n_channels == 1 else "ColorTransferFunction"
        raise TypeError(f"{name} must be a {kind} (or a TransferFunction of {n_channels} channel"
                        f"{'s' if n_channels > 1 else ''}), got {type(tf).__name__}")
    return tf
