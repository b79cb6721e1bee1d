"""Stage 4c of the pipeline: several channels of one volume (fluorescence, CT + dose, MR sequences)
mixed into one medium.

Each channel c has its own value range and transfer functions, so at a sample it has an opacity
per unit distance ``a_c`` and a colour ``rgb_c`` (shaded with its own gradient). The channels are
one medium whose extinctions add, which is the physically right mix and stays differentiable:

    σ = Σ_c σ_c,  σ_c = −ln(1 − a_c) / unit          (so a sample's optical depth τ = Σ_c τ_c)
    rgb = Σ_c σ_c·rgb_c / σ                          (each channel emits in proportion to its extinction)

A constant two-channel medium therefore composites exactly as one medium of the summed
extinction. Maximum intensity projection takes each channel's maximum through its own TFs and
adds the coloured results (``α = 1 − Π_c (1 − α_c)``, ``rgb = Σ_c α_c·rgb_c``, clamped).

Example:
    >>> from pyvr_jupyter import VolumeRenderer
    >>> membranes, nuclei = np.random.default_rng(0).random((2, 16, 16, 16), dtype=np.float32)
    >>> renderer = VolumeRenderer((16, 16, 16)).set_channel_transfer_functions(colors=["lime", "magenta"])
    >>> renderer.render(np.stack([membranes, nuclei]), image_size=32, channel_axis=0).shape
    torch.Size([32, 32, 3])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .transfer_functions import ColorTransferFunction

__all__ = ["CHANNEL_COLORS", "MAX_CHANNELS", "split_channels", "channel_color", "mix_channels", "mix_projections",
           "not_a_colour"]

#: Default colour per channel: the fluorescence microscopist's set.
CHANNEL_COLORS = ("lime", "magenta", "cyan", "yellow", "red", "blue", "orange", "white")
#: The most channels one render mixes.
MAX_CHANNELS = 16


def split_channels(volume: Any, channel_axis: Any) -> list:
    """The channels of a numpy array or tensor along ``channel_axis``: a list of (D, H, W) views
    (no copy), or a clear error naming ``channel_axis``.

    Example: ``split_channels(np.zeros((2, 4, 4, 4)), 0)`` → two (4, 4, 4) arrays."""
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise TypeError(f"channel_axis must be an integer axis of the volume, got {channel_axis!r}")
    ndim = len(getattr(volume, "shape", ()))
    if ndim != 4:
        raise ValueError(f"channel_axis needs a 4-D volume (channels and D, H, W), got shape "
                         f"{tuple(getattr(volume, 'shape', ()))}")
    if not -4 <= channel_axis < 4:
        raise ValueError(f"channel_axis {channel_axis} is out of range for a 4-D volume")
    count = volume.shape[channel_axis]
    if not 1 <= count <= MAX_CHANNELS:
        raise ValueError(f"channel_axis {channel_axis} has {count} channels; between 1 and {MAX_CHANNELS} are mixed")
    if isinstance(volume, torch.Tensor):
        return list(volume.unbind(channel_axis))
    return list(np.moveaxis(np.asarray(volume), channel_axis, 0))  # views of the user's array


def channel_color(color: Any, device="cpu", name: str = "channel colour") -> ColorTransferFunction:
    """A channel's colour TF: a ``ColorTransferFunction`` as it is, a matplotlib colormap name as
    that map, any other matplotlib colour (a name such as "lime", "#ff00ff", an RGB tuple) as
    that one colour everywhere (a fluorescent dye emits one colour; its opacity TF says how much).
    ValueError naming ``name`` (the caller's parameter, e.g. "colormaps[2]") for anything else."""
    if isinstance(color, ColorTransferFunction):
        return color
    if isinstance(color, str):
        try:
            return ColorTransferFunction(color, device=device)
        except ValueError:
            pass  # not a colormap: a colour
    from matplotlib.colors import to_rgb  # on first use: the renderer imports no matplotlib

    try:
        rgb = to_rgb(color)
    except ValueError:
        raise not_a_colour(name, color) from None
    return ColorTransferFunction.from_lut([rgb, rgb], device=device)


def not_a_colour(name: str, value) -> ValueError:
    """The error for a ``value`` that is neither a matplotlib colormap nor a colour, naming the
    nearest names when it is a string ("Viridis": did you mean 'viridis'?)."""
    hint = ""
    if isinstance(value, str):
        import difflib

        import matplotlib
        from matplotlib.colors import get_named_colors_mapping

        names = [*matplotlib.colormaps, *get_named_colors_mapping()]
        lowered = {n.lower(): n for n in names}
        close = ([lowered[value.lower()]] if value.lower() in lowered
                 else difflib.get_close_matches(value, names, n=3, cutoff=0.7))
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return ValueError(f"{name} {value!r} is neither a matplotlib colormap nor a colour{hint}")


def mix_channels(rgbs: Sequence[torch.Tensor], taus: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One medium from C channels' samples: extinctions add, colours weighted by extinction.

    Args:
        rgbs: C tensors (m, 3), each channel's (shaded) colour.
        taus: C tensors (m,), each channel's optical depth over the sample's step.

    Returns:
        rgb (m, 3) and tau (m,); differentiable with respect to every input. Where no channel
        absorbs (τ = 0) the colour is 0: it is multiplied by an opacity of 0 when composited.
    """
    tau = torch.stack(list(taus)).sum(dim=0)  # (m,)
    weighted = sum(t[:, None] * rgb for t, rgb in zip(taus, rgbs))  # (m, 3)
    safe = torch.where(tau > 0, tau, torch.ones_like(tau))
    return torch.where((tau > 0)[:, None], weighted / safe[:, None], torch.zeros_like(weighted)), tau


def mix_projections(rgbas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-channel projections (C tensors (n, 4), premultiplied) added like light:
    ``α = 1 − Π(1 − α_c)``, ``rgb = Σ rgb_c`` clamped to [0, 1]; returns (n, 4)."""
    stacked = torch.stack(list(rgbas))  # (C, n, 4)
    alpha = 1.0 - torch.prod(1.0 - stacked[..., 3], dim=0)
    rgb = stacked[..., :3].sum(dim=0).clamp(0.0, 1.0)
    return torch.cat([rgb, alpha[:, None]], dim=-1)
