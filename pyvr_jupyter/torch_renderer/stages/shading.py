"""Stage 5 of the pipeline: two-sided Blinn–Phong shading with normals from the volume's gradient.

Example:
    A white sample whose gradient faces a headlight straight on gets all three terms:

    >>> lighting = Lighting(ambient=0.3, diffuse=0.7, specular=0.2, shininess=20, headlight=True)
    >>> rgb, gradients = torch.ones(1, 3), torch.tensor([[0.0, 0.0, 1.0]])    # (n_samples, 3)
    >>> view_dirs = torch.tensor([[0.0, 0.0, -1.0]])                          # camera → scene
    >>> shade(rgb, gradients, view_dirs, lighting)                            # 0.3 + 0.7 + 0.2
    tensor([[1.2000, 1.2000, 1.2000]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_finite_number, check_vector3, unit_vectors

__all__ = ["Lighting", "shade"]


_DEFAULT_LIGHT_DIRECTION = (1.0, 1.0, 1.0)


@dataclass
class Lighting:
    """Light model parameters.

    ``light_direction`` points from the scene towards the light (world units, any length); it is
    ignored when ``headlight`` is on, where the light sits at the camera. ``headlight`` left at
    None follows ``light_direction``: on without one (the default), off when one is given, as in
    ``VolumeRenderer.set_lighting``; pass ``headlight=True`` to keep the headlight anyway.
    Coefficients and the direction may be tensors with ``requires_grad=True``.

    Example:
        >>> Lighting(light_direction=torch.tensor([0.0, 1.0, 0.0], requires_grad=True)).headlight
        False
    """

    ambient: float | torch.Tensor = 0.3
    diffuse: float | torch.Tensor = 0.7
    specular: float | torch.Tensor = 0.2
    shininess: float | torch.Tensor = 20.0
    light_direction: torch.Tensor | None = None
    headlight: bool | None = None

    def __post_init__(self):
        for name in ("ambient", "diffuse", "specular"):
            _check_coefficient(name, getattr(self, name), minimum=0.0)
        _check_coefficient("shininess", self.shininess, positive=True)
        if self.headlight is None:
            self.headlight = self.light_direction is None
        if not isinstance(self.headlight, bool):
            raise TypeError(f"headlight must be True, False or None, got {self.headlight!r}")
        direction = _DEFAULT_LIGHT_DIRECTION if self.light_direction is None else self.light_direction
        self.light_direction = check_vector3("light_direction", direction)
        if bool((self.light_direction.detach() == 0).all()):  # any other length normalises (unit_vectors)
            raise ValueError("light_direction must be a non-zero vector")

    def check_learnt(self) -> None:
        """Check the learnt coefficients (tensors that require grad) as ``__post_init__`` checks
        fixed ones: an optimiser may have stepped a shininess below 0 (NaN gradients) or a
        coefficient below 0 since. The renderer calls it before each lit render.

        Example: ``lighting.check_learnt()`` → ValueError "the learnt shininess is -30 ..."."""
        for name in ("ambient", "diffuse", "specular", "shininess"):
            value = getattr(self, name)
            if not (isinstance(value, torch.Tensor) and value.requires_grad):
                continue
            number = float(value.detach())
            if not (number > 0 if name == "shininess" else number >= 0):  # NaN fails too
                limit = "positive" if name == "shininess" else "at least 0"
                raise ValueError(f"the learnt {name} is {number:g}: it must stay {limit}, e.g. learn a raw "
                                 f"number r and pass {name}=torch.nn.functional.softplus(r)")

    def to_dict(self) -> dict:
        """JSON-safe description; ``Lighting(**lighting.to_dict())`` gives the same lighting."""
        return {"ambient": float(self.ambient), "diffuse": float(self.diffuse), "specular": float(self.specular),
                "shininess": float(self.shininess),
                "light_direction": self.light_direction.detach().cpu().tolist(), "headlight": self.headlight}


def _check_coefficient(name: str, value, minimum: float | None = None, positive: bool = False) -> None:
    """A number in range; a learnable tensor only needs to be one finite number (an
    optimiser may take it anywhere, and ``set_lighting`` rebuilds Lighting from it)."""
    if isinstance(value, torch.Tensor) and value.requires_grad:
        if value.numel() != 1 or not bool(torch.isfinite(value.detach()).all()):
            raise ValueError(f"{name} must be one finite number, got a tensor of shape {tuple(value.shape)}")
        return
    check_finite_number(name, value, minimum=minimum, positive=positive)


def shade(rgb: torch.Tensor, gradients: torch.Tensor, view_dirs: torch.Tensor, lighting: Lighting) -> torch.Tensor:
    """Apply ambient + diffuse + Blinn–Phong specular (white) light to sample colours.

    Args:
        rgb: (..., 3) sample colours, e.g. (n_samples, 3).
        gradients: (..., 3) volume gradients (any scale; only the direction is used).
        view_dirs: (..., 3) unit ray directions (camera → scene) at each sample.
        lighting: coefficients and light direction.

    Returns:
        (..., 3) shaded colours, ``rgb·(ambient + diffuse·max(n·l, 0)) + specular·max(n·h, 0)^shininess``.
        Normals are flipped to face the viewer (two-sided), so surfaces seen from inside are lit too.
        Where the gradient vanishes (|g|² ≤ 1e-20: flat regions) the sample keeps
        ``rgb·(ambient + diffuse)``; the renderer passes the gradient of the value normalised to
        the transfer functions' domain, so that threshold does not depend on the volume's units.
    """
    # Dot products with the raw gradient, scaled by 1/|g| afterwards: (n,) work instead of
    # normalised (n, 3) normals (this stage runs once per sample).
    dtype = rgb.dtype
    view_dirs = view_dirs.to(dtype)
    magnitude_sq = _dot(gradients, gradients)  # (...)
    flat = magnitude_sq <= 1e-20
    inverse_length = torch.rsqrt(magnitude_sq.clamp_min(1e-20))
    g_dot_view = _dot(gradients, view_dirs)
    if lighting.headlight:
        # Light and half vector both point to the eye; the two-sided normal faces it: n·l = |g·v|/|g|.
        n_dot_l = n_dot_h = g_dot_view.abs() * inverse_length
    else:
        # Two-sided: the normal is flipped to face the eye, i.e. against the view direction.
        scale = torch.where(g_dot_view > 0, -inverse_length, inverse_length)
        to_light = unit_vectors(lighting.light_direction.to(device=rgb.device), dtype)  # 1e20 overflowed a norm
        g_dot_light = gradients @ to_light
        # half = (l + e) / |l + e| with e = −view: |l + e|² = 2 − 2·(view·l) for unit vectors.
        half_length = (2.0 - 2.0 * (view_dirs @ to_light)).clamp_min(1e-24).sqrt()
        n_dot_l = (g_dot_light * scale).clamp_min(0.0)
        n_dot_h = (g_dot_light - g_dot_view) * scale / half_length
    # Flat regions (no normal) keep ambient + diffuse and get no highlight.
    light = lighting.ambient + lighting.diffuse * torch.where(flat, torch.ones_like(n_dot_l), n_dot_l)
    specular = torch.where(flat, torch.zeros_like(n_dot_h), n_dot_h.clamp_min(1e-12) ** lighting.shininess)
    return torch.addcmul((lighting.specular * specular).unsqueeze(-1), rgb, light.unsqueeze(-1))


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3) · (..., 3) → (...), component by component: several times faster than
    ``(a * b).sum(-1)`` on CPU, most of all when the renderer passes channel-planar views
    (its lookups come out one channel after another)."""
    (ax, ay, az), (bx, by, bz) = a.unbind(-1), b.unbind(-1)  # unbind: one backward, not three zero-filled copies
    return torch.addcmul(torch.addcmul(ax * bx, ay, by), az, bz)
