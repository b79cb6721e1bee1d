"""Piecewise-linear functions on [0, 1]: the lookup protocol every transfer function speaks, and
the learnable parameterisation of the knot-based ones (``transfer_functions.py``).

``KnotTable`` is what the renderer reads of any transfer function: knots and values (a tensor
that may carry a graph to the function's parameters). Both backends look it up (the PyTorch
stages with ``interpolate_piecewise_linear``, the fused kernels from its arrays), and empty-space
skipping asks it for its largest value over intervals (``max_over_intervals``). A new kind of
transfer function is one ``TransferFunction`` subclass with a ``table()`` method.

``interpolate_piecewise_linear`` evaluates a function through knots ``(positions, values)``
with linear interpolation (no floor indexing: it bands the image and blocks gradients), with a
backward that is fast on CPU when millions of samples land on a few hundred knots.

Learning: ``tf.parameters()`` (or ``tf.requires_grad_()``) switches the function to an
unconstrained parameterisation, a stretched sigmoid clamped to [0, 1]:
``value = clamp((1 + 2δ)·sigmoid(logit) − δ, 0, 1)`` with δ = 0.1, so any optimiser step keeps
values in [0, 1]. Values of exactly 0 or 1 sit at finite logits (±2.4) where the slope is still
about 0.09, so plain SGD moves them (a plain sigmoid would need logits of ±13.8 there and scale
their gradient by 1e-6). A value clamped at a bound gets the gradient only when it points back
into [0, 1], so knots never get stuck outside. Knot positions stay fixed; edits that keep the
number of knots update the learnable logits in place (an optimiser keeps driving them), edits
that change it raise ``ValueError`` until ``requires_grad_(False)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import _short, check_device, check_finite_number

__all__ = ["interpolate_piecewise_linear", "KnotTable", "TransferFunction", "rgba_table"]

_STRETCH = 0.1  # δ of the learnable parameterisation (see the module docstring)


def interpolate_piecewise_linear(x: torch.Tensor, positions: torch.Tensor, values, uniform: bool = False) -> torch.Tensor:
    """Evaluate the piecewise-linear function through ``(positions, values)`` at ``x``.

    Args:
        x: scalars, any shape ``(...)``; clamped to [positions[0], positions[-1]] (the end
            values extend outside).
        positions: (K,) strictly increasing knots, K >= 2.
        values: (K, C) values at the knots, or a sequence of (K, C_i) tables looked up
            together (channels concatenated; backward then skips the tables that need no gradient).
        uniform: knots are ``linspace(0, 1, K)``; lets the lookup skip the search.

    Returns:
        (..., C). Differentiable with respect to ``x`` (except exactly on knots) and ``values``.
    """
    tables = (values,) if isinstance(values, torch.Tensor) else tuple(values)
    n_knots = positions.shape[0]
    x = x.to(tables[0].dtype)
    if uniform:
        u = x.clamp(0.0, 1.0) * (n_knots - 1)
        left = u.detach().floor().clamp_(0, n_knots - 2).long()
        weight = (u - left.to(u.dtype)).unsqueeze(-1)
    else:
        x = x.clamp(positions[0], positions[-1])
        right = torch.searchsorted(positions, x.detach().contiguous(), right=True).clamp_(1, n_knots - 1)
        left = right - 1
        p0, p1 = positions[left], positions[right]
        weight = ((x - p0) / (p1 - p0)).clamp(0.0, 1.0).unsqueeze(-1)
    return _KnotInterpolation.apply(left, weight, *tables)


class _KnotInterpolation(torch.autograd.Function):
    """``table[left] + weight · (table[left + 1] − table[left])`` for rows ``left`` (...,) of
    ``table`` (K, C), the tables' channels side by side, blended by ``weight`` (..., 1).

    Plain indexing would give the same result, but its backward (``index_put_`` with
    ``accumulate=True``) is several times slower on CPU when a million samples land on a few
    hundred knots: it was a sixth of the renderer's backward. This backward adds each channel
    with 1-D ``index_add_`` calls instead (ten times faster than adding whole rows), and only
    for the tables that need a gradient.
    """

    @staticmethod
    def forward(ctx, left, weight, *tables):
        table = torch.cat(tables, dim=-1) if len(tables) > 1 else tables[0]
        flat = left.reshape(-1)
        v0 = _rows(table, flat).reshape(*left.shape, table.shape[-1])
        v1 = _rows(table, flat + 1).reshape(*left.shape, table.shape[-1])
        ctx.save_for_backward(left, weight, table)
        ctx.widths = [t.shape[-1] for t in tables]
        return torch.lerp(v0, v1, weight)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        left, weight, table = ctx.saved_tensors
        flat, rows = left.reshape(-1), grad.reshape(-1, table.shape[-1])
        grad_weight = None
        if ctx.needs_input_grad[1]:
            steps = _rows(table[1:] - table[:-1], flat)  # (n, C) table[left + 1] − table[left]
            grad_weight = ((steps * rows) @ rows.new_ones(rows.shape[-1])).reshape(weight.shape)  # mv: a fast row sum
        grad_tables, first = [], 0
        for needed, width in zip(ctx.needs_input_grad[2:], ctx.widths):
            grad_table = None
            if needed:
                grad_table = table.new_zeros(table.shape[0], width)
                for channel in range(width):  # 1-D adds: 2-D rows contend for the same cache lines
                    column = rows[:, first + channel]
                    high = column * weight.reshape(-1)
                    grad_table[:, channel].index_add_(0, flat, column - high).index_add_(0, flat + 1, high)
            grad_tables.append(grad_table)
            first += width
        return None, grad_weight, *grad_tables


def _rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[rows]``: (n, C) rows of a small (K, C) table, for (n,) row indices.

    On CUDA, ``index_select`` of a few-hundred-row table takes a vectorised gather that ran 18×
    slower than ``take`` on the flattened table (4 M lookups into 256 × 4 on an H200: 2.5 ms vs
    0.14 ms); on a CPU ``index_select`` is the faster one.
    """
    return table.index_select(0, rows) if table.device.type == "cpu" else _take_rows(table, rows)


def _take_rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[rows]`` through ``take`` on the flattened (K·C,) table (the CUDA path of ``_rows``)."""
    width = table.shape[-1]
    return table.contiguous().reshape(-1).take(rows[:, None] * width + torch.arange(width, device=rows.device))


class KnotTable(NamedTuple):
    """A transfer function as the renderer reads it: values at knots over [0, 1], interpolated linearly.

    Example:
        >>> table = KnotTable(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([[0.0], [1.0], [0.0]]), uniform=True)
        >>> table(torch.tensor([0.25, 0.5]))                  # (..., C)
        tensor([[0.5000],
                [1.0000]])
        >>> table.max_over_intervals(torch.tensor([0.0, 0.7]), torch.tensor([0.2, 1.0]))
        tensor([0.4000, 0.6000])
    """

    positions: torch.Tensor  # (K,) strictly increasing, in [0, 1]
    values: torch.Tensor  # (K, C); may require grad (a graph to the function's parameters)
    uniform: bool  # positions are linspace(0, 1, K): lookups need no search

    def __call__(self, scalars: torch.Tensor) -> torch.Tensor:
        """The values at ``scalars`` (...,), on their device: (..., C). float64 scalars look up in float64."""
        positions, values = self.positions, self.values
        if positions.device != scalars.device:
            positions, values = positions.to(scalars.device), values.to(scalars.device)
        if scalars.dtype == torch.float64 and values.dtype != torch.float64:
            positions, values = positions.double(), values.double()
        return interpolate_piecewise_linear(scalars, positions, values, self.uniform)

    @property
    def requires_grad(self) -> bool:
        """Does a gradient flow to the table: to its values, or to its knots' positions (a custom
        transfer function may learn where its knots sit, ``docs/extending.md``)?"""
        return self.values.requires_grad or self.positions.requires_grad

    def key(self) -> tuple:
        """What tells two tables apart, for caches (the bytes of the knots and values)."""
        return (self.positions.detach().cpu().numpy().tobytes(), self.values.detach().cpu().numpy().tobytes())

    def max_over_intervals(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Largest value of channel 0 over each interval [low, high] of [0, 1] (exact: the maximum of
        a piecewise-linear function sits at an end or at a knot inside). Shapes (...,) → (...,);
        memory O(n_intervals + K log K). Empty-space skipping asks this of the opacity table."""
        low, high = low.clamp(0.0, 1.0), high.clamp(0.0, 1.0)
        table = KnotTable(self.positions.to(low.device, low.dtype), self.values.detach().to(low.device, low.dtype),
                          self.uniform)
        ends = torch.maximum(table(low)[..., 0], table(high)[..., 0])
        first = torch.searchsorted(table.positions, low.contiguous())  # knots first .. stop − 1 lie inside
        stop = torch.searchsorted(table.positions, high.contiguous(), right=True)
        return torch.maximum(ends, _range_max(table.values[:, 0], first, stop))


def _range_max(values: torch.Tensor, first: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
    """max(values[first:stop]) for many index ranges at once, -inf for empty ones; ``values`` (K,).
    A sparse table: row j holds the maxima of windows of 2^j knots, so any range is covered by two
    overlapping windows."""
    n_knots = values.shape[0]
    rows = [values]
    while 2 ** len(rows) <= n_knots:
        previous, width = rows[-1], 2 ** (len(rows) - 1)
        rows.append(torch.maximum(previous[:-width], previous[width:]))
    table = torch.stack([F.pad(row, (0, n_knots - row.shape[0])) for row in rows])  # (levels, K)
    length = (stop - first).clamp_min(1)
    level = torch.floor(torch.log2(length.to(torch.float64))).long()
    window = torch.pow(2, level)
    left = table[level, first.clamp_max(n_knots - 1)]
    right = table[level, (stop - window).clamp(0, n_knots - 1)]
    return torch.where(stop > first, torch.maximum(left, right), torch.full_like(left, -torch.inf))


def rgba_table(opacity: KnotTable, color: KnotTable, max_entries: int = 4096, as_parts: bool = False):
    """Both tables as one uniform (K, 4) table (RGB, opacity), or None.

    Exact, not an approximation: it exists only when both tables have evenly spaced knots and
    one knot spacing is a multiple of the other, so every knot of each lies on the table's grid
    and linear interpolation in the table reproduces both. One 4-channel lookup then replaces
    two. Differentiable with respect to both tables' values. ``as_parts=True`` gives the (K, 3)
    colour and (K, 1) opacity columns as a pair, for ``interpolate_piecewise_linear`` to look up
    together.
    """
    if not (opacity.uniform and color.uniform):
        return None
    intervals = [table.positions.shape[0] - 1 for table in (opacity, color)]
    finer, coarser = max(intervals), min(intervals)
    if finer % coarser or finer + 1 > max_entries:
        return None
    knots = torch.linspace(0.0, 1.0, finer + 1, dtype=color.values.dtype, device=color.values.device)
    parts = (color(knots), opacity(knots))
    return parts if as_parts else torch.cat(parts, dim=1)


class TransferFunction:
    """What the renderer asks of a transfer function of any kind: ``table()``, a ``KnotTable``
    of ``n_channels`` channels (1: opacity per unit distance; 3: RGB) over the TF domain [0, 1].

    A new kind subclasses this and implements ``table()`` (differentiable with respect to its
    parameters if it is to be learnt); both backends, empty-space skipping and the fused adjoint
    then work with it unchanged (docs/extending.md shows one).
    """

    n_channels = 1

    def table(self) -> KnotTable:
        """The function as the renderer reads it, a ``KnotTable`` over [0, 1] (called once per render)."""
        raise NotImplementedError

    def __call__(self, scalars: torch.Tensor) -> torch.Tensor:
        """The function at ``scalars`` (...): (...) for one channel, (..., C) for several."""
        values = self.table()(scalars)
        return values[..., 0] if self.n_channels == 1 else values


class _InwardClamp(torch.autograd.Function):
    """``x.clamp(0, 1)`` whose backward also passes the gradient where ``x`` lies outside
    [0, 1] but the gradient step (−grad) points back inside, so clamped values can return."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = ((x >= 0) & (x <= 1)) | ((x < 0) & (grad < 0)) | ((x > 1) & (grad > 0))
        return grad * passes


def _values_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(K, C) values in [0, 1] from unconstrained logits: the stretched, clamped sigmoid."""
    return _InwardClamp.apply((1 + 2 * _STRETCH) * torch.sigmoid(logits) - _STRETCH)


def _logits_from_values(values: torch.Tensor) -> torch.Tensor:
    """The inverse of ``_values_from_logits`` on [0, 1] (finite for 0 and 1 too)."""
    return torch.logit((values + _STRETCH) / (1 + 2 * _STRETCH))


class _PiecewiseLinear(TransferFunction):
    """Control points ``(s, value)`` with values of ``n_channels`` channels in [0, 1]."""

    n_channels = 1
    _kind = ""

    def __init__(self, positions, values, device="cpu", uniform: bool = False):
        self.device = check_device(device)
        self._logits: torch.Tensor | None = None  # (K, C) while learnable
        self._set(positions, values, uniform)

    # ---- state --------------------------------------------------------------------------
    def _set(self, positions, values, uniform: bool = False) -> None:
        """Replace the knots. While learnable, the logits are updated in place (an optimiser
        holding them keeps driving this function); a different number of knots then raises."""
        positions, values = self._check_points(positions, values)
        if self._logits is not None:
            if values.shape != self._logits.shape:
                raise ValueError(
                    f"this {self._kind} transfer function is being learnt with {self._logits.shape[0]} knots "
                    f"(parameters() was called); an edit to {values.shape[0]} knots would leave the optimiser "
                    "with stale tensors: call requires_grad_(False) first, then parameters() again")
            with torch.no_grad():
                self._logits.copy_(_logits_from_values(values.detach().to(self._logits)))
        uniform = uniform or bool(
            positions.shape[0] > 1 and torch.allclose(
                positions, torch.linspace(0, 1, positions.shape[0], dtype=positions.dtype, device=positions.device),
                atol=1e-7))
        # One assignment: a render on another thread reads a consistent set (``table()``).
        self._knots = (positions, values, uniform)

    def _check_points(self, positions, values) -> tuple[torch.Tensor, torch.Tensor]:
        name = f"{self._kind} control points"
        if isinstance(values, torch.Tensor) and values.requires_grad:
            values_t = values.to(self.device)
        else:
            values_t = torch.as_tensor(np.asarray(_detach(values), dtype=np.float64), device=self.device)
            values_t = values_t.to(torch.float32)
        positions_t = torch.as_tensor(np.asarray(_detach(positions), dtype=np.float64), device=self.device)
        positions_t = positions_t.to(values_t.dtype if values_t.is_floating_point() else torch.float32)
        if values_t.ndim == 1 and self.n_channels == 1:
            values_t = values_t[:, None]
        if positions_t.ndim != 1 or positions_t.shape[0] < 2:
            raise ValueError(f"{name} need at least two points, got {positions_t.shape[0] if positions_t.ndim else 0}")
        if values_t.shape != (positions_t.shape[0], self.n_channels):
            raise ValueError(f"{name} values must have shape ({positions_t.shape[0]}, {self.n_channels}), "
                             f"got {tuple(values_t.shape)}")
        for label, t in (("positions", positions_t), ("values", values_t)):
            t = t.detach()
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name}: {label} must be finite")
            if bool((t < 0).any()) or bool((t > 1).any()):
                shown = t[:, 0] if t.ndim == 2 and t.shape[1] == 1 else t  # one channel: [0.0, 7.0], not [[0.0], [7.0]]
                raise ValueError(f"{name}: {label} must lie in [0, 1], got {_short(shown.cpu().tolist())}")
        if bool((positions_t[1:] <= positions_t[:-1]).any()):
            raise ValueError(f"{name}: positions must be strictly increasing, got {_short(positions_t.cpu().tolist())}")
        return positions_t, values_t

    @property
    def positions(self) -> torch.Tensor:
        """(K,) knot positions in [0, 1], strictly increasing."""
        return self._knots[0]

    @property
    def uniform(self) -> bool:
        """Are the knots evenly spaced over [0, 1] (``linspace(0, 1, K)``)?"""
        return self._knots[2]

    @property
    def _values(self) -> torch.Tensor:
        return self._knots[1]

    @property
    def values(self) -> torch.Tensor:
        """(K, C) values at the knots (from the logits while learnable)."""
        return _values_from_logits(self._logits) if self._logits is not None else self._values

    def requires_grad_(self, requires_grad: bool = True):
        """Make the values learnable (through logits, see the module docstring) or freeze
        them. Returns self."""
        if requires_grad:
            if self._logits is None:
                self._logits = _logits_from_values(self._values.detach()).requires_grad_(True)
        elif self._logits is not None:
            self._knots = (self.positions, _values_from_logits(self._logits).detach(), self.uniform)
            self._logits = None
        return self

    def parameters(self) -> list[torch.Tensor]:
        """The learnable tensors, for ``torch.optim.Adam(tf.parameters())``."""
        self.requires_grad_(True)
        return [self._logits]

    def to(self, device) -> "_PiecewiseLinear":
        """Move the knots (and learnable logits, in place) to ``device``. Returns self."""
        self.device = check_device(device)
        self._knots = (self.positions.to(self.device), self._values.to(self.device), self.uniform)
        if self._logits is not None:  # moved in place, as nn.Module.to moves parameters
            self._logits.data = self._logits.data.to(self.device)
        return self

    def table(self) -> KnotTable:
        """The control points as the renderer reads them (values with their graph while learnable)."""
        positions, values, uniform = self._knots  # one read: edits on other threads replace it whole
        return KnotTable(positions, _values_from_logits(self._logits) if self._logits is not None else values, uniform)

    def __eq__(self, other) -> bool:
        return (type(self) is type(other) and self.positions.shape == other.positions.shape
                and bool(torch.equal(self.positions.cpu(), other.positions.cpu()))
                and bool(torch.equal(self.values.detach().cpu(), other.values.detach().cpu())))

    __hash__ = None


def _detach(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def _split_points(points: Any, name: str, n_channels: int) -> tuple[list, list]:
    if isinstance(points, (torch.Tensor, np.ndarray)):
        points = _detach(points).tolist()
    if not isinstance(points, (list, tuple)):
        raise TypeError(f"{name} must be a list of (s, value) pairs, got {_short(points)}")
    positions, values = [], []
    for point in points:
        if not isinstance(point, (list, tuple, np.ndarray)) or len(point) != 2:
            raise ValueError(f"{name} must be (s, value) pairs, got {_short(point)}")
        s, v = point
        positions.append(check_finite_number(f"{name} position", s))
        if n_channels == 1:
            values.append(check_finite_number(f"{name} value", v))
        else:
            if not isinstance(v, (list, tuple, np.ndarray)) or len(v) != n_channels:
                raise ValueError(f"{name} colours must be (r, g, b), got {_short(v)}")
            values.append([check_finite_number(f"{name} colour", c) for c in v])
    order = np.argsort(positions, kind="stable")
    return [positions[i] for i in order], [values[i] for i in order]
