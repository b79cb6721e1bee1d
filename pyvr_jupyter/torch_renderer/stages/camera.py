"""Stage 1 of the pipeline: a look-at pinhole camera and its rays.

Right-handed world; ``fov`` is the vertical field of view in degrees; one ray through each
pixel centre; image row 0 is the top. A camera looking down -z with up +y sees world +x to the
right and +y up.

Example:
    >>> cam = Camera(position=(200, 100, 200), target=(64, 64, 64), fov=45)
    >>> origins, directions = cam.generate_rays((256, 256))
    >>> tuple(origins.shape), tuple(directions.shape)
    ((256, 256, 3), (256, 256, 3))
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .._checks import (check_device, check_finite_number, check_image_size, check_spacing, check_vector3,
                       check_volume_shape)

__all__ = ["Camera", "Rays"]

_MAX_ELEVATION_DEG = 89.0
#: Share of the view's height the default camera gives the volume (``for_volume``) or the points it frames.
DEFAULT_FILL = 0.8


class Rays(NamedTuple):
    """Ray bundle; both tensors have shape (..., 3) and ``directions`` are unit vectors."""

    origins: torch.Tensor
    directions: torch.Tensor


def _fitting_distance(offsets: torch.Tensor, backward: torch.Tensor, half_tan: float,
                      up: torch.Tensor | None = None) -> float:
    """Smallest distance from the centre, along ``backward`` (unit, (3,)), at which every offset
    (N, 3) projects within ``half_tan`` of the view axis, across and up (the camera's up, default
    +y). A point at depth z towards the camera and x across projects to x / (d − z): d ≥ z + |x| / half_tan."""
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64) if up is None else up
    right = torch.linalg.cross(up, backward)
    right = right / right.norm()
    true_up = torch.linalg.cross(backward, right)
    x, y, z = (offsets @ right).abs(), (offsets @ true_up).abs(), offsets @ backward
    needed = z + torch.maximum(x, y) / half_tan
    radius = float(offsets.norm(dim=1).max())
    return max(float(needed.max()), float(z.max()) + 1e-3 * max(radius, 1.0), 1e-3 * max(radius, 1.0))


def _frame_axes(up, front) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit ``up``, ``front`` made orthogonal to it, and ``side = up × front`` (float64, (3,) each):
    the frame in which ``for_points`` measures azimuth (about up, from front towards side) and
    elevation (towards up)."""
    up_t = check_vector3("up", up, dtype=torch.float64).detach().double().cpu()
    front_t = check_vector3("front", front, dtype=torch.float64).detach().double().cpu()
    if float(up_t.norm()) == 0 or float(front_t.norm()) == 0:
        raise ValueError(f"up and front must be non-zero vectors, got {up_t.tolist()} and {front_t.tolist()}")
    up_t = up_t / up_t.norm()
    front_t = front_t - (front_t @ up_t) * up_t
    if float(front_t.norm()) < 1e-6:
        raise ValueError(f"front {front_t.tolist()} is parallel to up {up_t.tolist()}")
    front_t = front_t / front_t.norm()
    return up_t, front_t, torch.linalg.cross(up_t, front_t)


def _check_fov(fov) -> float | torch.Tensor:
    if isinstance(fov, torch.Tensor) and fov.requires_grad:
        if fov.numel() != 1:
            raise ValueError(f"fov must be a single number, got a tensor of shape {tuple(fov.shape)}")
        value = fov.detach().item()
        out = fov
    else:
        value = check_finite_number("fov", fov)
        out = value
    if not 0.0 < value < 180.0:
        raise ValueError(f"fov must be in (0, 180) degrees, got {value}")
    return out


class Camera:
    """Look-at perspective camera.

    ``position`` and ``target`` may be tensors with ``requires_grad=True``: rays (and so the
    rendering) are differentiable with respect to them and to a tensor ``fov``.

    Example:
        >>> cam = Camera.for_volume((128, 128, 128), azimuth=30, elevation=20)
        >>> cam.orbit(10, 0).zoom(1.2)          # edits in place, returns the camera
        Camera(position=[...], target=[63.5, 63.5, 63.5], up=[0.0, 1.0, 0.0], fov=45)
    """

    def __init__(self, position=(0.0, 0.0, 1.0), target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0),
                 fov: float = 45.0, device="cpu"):
        self.device = check_device(device)
        self.position = check_vector3("position", position, device=self.device)
        self.target = check_vector3("target", target, device=self.device)
        self.up = check_vector3("up", up, device=self.device)
        self.fov = _check_fov(fov)
        self._check_frame()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def for_volume(cls, shape: Sequence[int], spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                   azimuth: float = 45.0, elevation: float = 30.0, distance: float | None = None,
                   fov: float = 45.0, fill: float = DEFAULT_FILL, device="cpu", up=(0.0, 1.0, 0.0),
                   front=(0.0, 0.0, 1.0)) -> "Camera":
        """A camera looking at the centre of a (D, H, W) volume's box.

        ``azimuth`` turns around ``up`` (default +y) starting from ``front`` (default +z) towards
        ``up × front`` (+x), ``elevation`` lifts towards ``up`` (degrees); the camera keeps ``up``
        up (``tools.orientation.head_up_camera`` gives a scan's anatomical up and front).
        ``distance`` defaults to the one at which the box's projection spans ``fill`` (80 %) of
        the view's height (the shorter side of a square or landscape image) and fits its width.

        Example:
            >>> cam = Camera.for_volume((24, 96, 128), spacing=(2, 2, 2.2), azimuth=90)
            >>> [round(v, 1) for v in cam.target.tolist()]   # the box's centre, in world units
            [127.0, 95.0, 25.3]
        """
        shape = check_volume_shape(shape)
        spacing_t = check_spacing(spacing)
        origin_t = check_vector3("origin", origin, dtype=torch.float64)
        extent = torch.tensor([shape[2] - 1, shape[1] - 1, shape[0] - 1], dtype=torch.float64) * spacing_t
        corners = origin_t + extent * torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)],
                                                   dtype=torch.float64)
        return cls.for_points(corners, azimuth=azimuth, elevation=elevation, distance=distance, fov=fov,
                              fill=fill, device=device, up=up, front=front)

    @classmethod
    def for_points(cls, points, azimuth: float = 45.0, elevation: float = 30.0, distance: float | None = None,
                   fov: float = 45.0, fill: float = DEFAULT_FILL, device="cpu", up=(0.0, 1.0, 0.0),
                   front=(0.0, 0.0, 1.0)) -> "Camera":
        """A camera looking at the centre of the bounding box of ``points`` (N, 3), world units,
        from the direction given by ``azimuth`` and ``elevation`` about ``up`` and ``front`` (as
        ``for_volume``).

        ``distance`` defaults to the closest at which the points' perspective projection spans at
        most ``fill`` of the view's height and width (for a square image; a landscape image has
        more room across): what is drawn there, e.g. the voxels a transfer function makes
        visible (``auto_tf.visible_points``), then fills the view.

        Example:
            >>> cam = Camera.for_points([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], azimuth=0, elevation=0)
            >>> [round(v, 2) for v in cam.position.tolist()]
            [5.0, 5.0, 15.09]
        """
        pts = torch.as_tensor(np.asarray(points, dtype=np.float64))
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] != 3 or not bool(torch.isfinite(pts).all()):
            raise ValueError(f"points must be a non-empty (N, 3) array of finite numbers, got shape "
                             f"{tuple(pts.shape)}")
        fov = float(_check_fov(fov))
        fill = check_finite_number("fill", fill, positive=True, maximum=1.0)
        az = math.radians(check_finite_number("azimuth", azimuth))
        el = math.radians(check_finite_number("elevation", elevation,
                                              minimum=-_MAX_ELEVATION_DEG, maximum=_MAX_ELEVATION_DEG))
        up_t, front_t, side_t = _frame_axes(up, front)
        centre = (pts.min(0).values + pts.max(0).values) / 2
        # From the target towards the camera; with the default frame (cos el sin az, sin el, cos el cos az).
        backward = math.cos(el) * (math.sin(az) * side_t + math.cos(az) * front_t) + math.sin(el) * up_t
        if distance is None:
            distance = _fitting_distance(pts - centre, backward, fill * math.tan(math.radians(fov) / 2), up_t)
        distance = check_finite_number("distance", distance, positive=True)
        return cls(position=(centre + distance * backward).tolist(), target=centre.tolist(),
                   up=up_t.tolist(), fov=fov, device=device)

    def clone(self) -> "Camera":
        """An independent copy (detached tensors)."""
        fov = self.fov.detach().clone() if isinstance(self.fov, torch.Tensor) else self.fov
        return Camera(self.position.detach().clone(), self.target.detach().clone(),
                      self.up.detach().clone(), fov, self.device)

    def to(self, device) -> "Camera":
        """This view with its tensors on ``device``: self if already there, else a new camera whose
        tensors are copies that keep their graph (gradients flow back to this camera's).

        Example:
            >>> Camera.for_volume((8, 8, 8)).to("cpu").position.device.type
            'cpu'
        """
        device = check_device(device)
        if device == self.device:
            return self
        fov = self.fov.to(device) if isinstance(self.fov, torch.Tensor) else self.fov
        return Camera(self.position, self.target, self.up, fov, device)

    def to_dict(self) -> dict:
        """JSON-safe description: position, target, up, fov."""
        return {"position": self.position.detach().cpu().tolist(),
                "target": self.target.detach().cpu().tolist(),
                "up": self.up.detach().cpu().tolist(),
                "fov": float(self.fov)}

    @classmethod
    def from_dict(cls, data: dict, device="cpu") -> "Camera":
        """The camera that ``to_dict`` described (``up`` and ``fov`` may be left out).

        Args:
            data: ``{"position": [x, y, z], "target": [x, y, z], "up": [x, y, z], "fov": degrees}``.
            device: where the camera's tensors live.

        Example:
            >>> Camera.from_dict({"position": [0, 0, 10], "target": [0, 0, 0]})
            Camera(position=[0.0, 0.0, 10.0], target=[0.0, 0.0, 0.0], up=[0.0, 1.0, 0.0], fov=45)
        """
        missing = [key for key in ("position", "target") if not isinstance(data, dict) or key not in data]
        if missing:
            raise ValueError(f"a camera's dict needs {' and '.join(repr(k) for k in missing)}, got {data!r:.120}")
        return cls(data["position"], data["target"], data.get("up", (0, 1, 0)), data.get("fov", 45.0),
                   device=device)

    # ---- the camera frame ---------------------------------------------------------------
    def check_learnt(self) -> None:
        """Check what is learnt (a tensor ``fov``, ``position``, ``target`` or ``up`` that requires
        grad) as ``__init__`` checked it: an optimiser may have moved it since, and a fov outside
        (0, 180) drew a mirrored, flat or blank picture, a position on the target NaN gradients.
        The renderer calls it before each render; fixed numbers were checked when made.

        Example: ``camera.check_learnt()`` → ValueError "the learnt fov is 200° ..."."""
        if isinstance(self.fov, torch.Tensor) and self.fov.requires_grad:
            value = float(self.fov.detach())
            if not 0.0 < value < 180.0:
                raise ValueError(f"the learnt fov is {value:g}°, outside (0, 180) degrees: keep it inside, e.g. "
                                 "learn a raw number r and pass fov=1 + 178 * torch.sigmoid(r)")
        if any(v.requires_grad for v in (self.position, self.target, self.up)):
            self._check_frame()

    def _check_frame(self) -> None:
        offset = (self.target - self.position).detach()
        if not math.isfinite(float(offset.norm())):  # |offset|² overflows the dtype: no usable frame
            raise ValueError(f"position {self.position.tolist()} and target {self.target.tolist()} are too far "
                             f"apart for {offset.dtype}")
        if float(offset.norm()) <= 1e-9 * max(1.0, float(self.position.detach().norm())):
            raise ValueError(f"position and target coincide: {self.position.tolist()}")
        if float(self.up.detach().norm()) == 0:
            raise ValueError("up must be a non-zero vector")
        forward = offset / offset.norm()
        up = self.up.detach().to(forward.dtype)
        if float(torch.linalg.cross(forward, up / up.norm()).norm()) < 1e-6:
            raise ValueError(f"up {self.up.tolist()} is parallel to the view direction {forward.tolist()}")

    def basis(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unit vectors ``(right, true_up, forward)`` of the camera, each (3,)."""
        forward = self.target - self.position
        forward = forward / forward.norm()
        right = torch.linalg.cross(forward, self.up.to(forward.dtype))
        right = right / right.norm()
        true_up = torch.linalg.cross(right, forward)
        return right, true_up, forward

    @property
    def distance(self) -> float:
        """Distance from the position to the target, in world units."""
        return float((self.target - self.position).detach().norm())

    # ---- rays ---------------------------------------------------------------------------
    def generate_rays(self, image_size, pixel_indices: torch.Tensor | None = None) -> Rays:
        """Rays through the pixel centres of an ``(H, W)`` image.

        Args:
            image_size: ``(H, W)`` or one int for a square image.
            pixel_indices: optional (n,) flat indices ``row * W + col`` to make rays for only
                those pixels (the renderer works chunk by chunk this way).

        Returns:
            ``Rays(origins, directions)``, each (H, W, 3), or (n, 3) with ``pixel_indices``;
            directions are unit length.
        """
        height, width = check_image_size(image_size)
        right, true_up, forward = self.basis()
        dtype, device = forward.dtype, forward.device
        fov = self.fov if isinstance(self.fov, torch.Tensor) else torch.tensor(self.fov, dtype=dtype)
        tan_half = torch.tan(torch.deg2rad(fov.to(dtype=dtype, device=device)) / 2)
        if pixel_indices is None:
            rows = torch.arange(height, dtype=dtype, device=device)[:, None].expand(height, width)
            cols = torch.arange(width, dtype=dtype, device=device)[None, :].expand(height, width)
        else:
            pixel_indices = pixel_indices.to(device)
            rows = torch.div(pixel_indices, width, rounding_mode="floor").to(dtype)
            cols = (pixel_indices % width).to(dtype)
        # Pixel centres in normalised device coordinates: x in (-aspect, aspect), y from +1 (top) to -1.
        xs = ((cols + 0.5) * (2.0 / width) - 1.0) * (tan_half * width / height)
        ys = (1.0 - (rows + 0.5) * (2.0 / height)) * tan_half
        directions = forward + xs[..., None] * right + ys[..., None] * true_up  # (..., 3)
        directions = directions / directions.norm(dim=-1, keepdim=True)
        origins = self.position.to(dtype).expand(directions.shape)
        return Rays(origins, directions)

    # ---- matrices -----------------------------------------------------------------------
    def get_view_matrix(self) -> torch.Tensor:
        """4×4 world → camera matrix (OpenGL convention: the camera looks down its −z)."""
        right, true_up, forward = self.basis()
        view = torch.eye(4, dtype=forward.dtype, device=forward.device)
        rotation = torch.stack([right, true_up, -forward])
        view = torch.cat([torch.cat([rotation, (-rotation @ self.position.to(forward.dtype))[:, None]], 1),
                          view[3:]], 0)
        return view

    def get_projection_matrix(self, aspect: float = 1.0, near: float = 0.1, far: float = 1000.0) -> torch.Tensor:
        """4×4 OpenGL perspective projection for this camera's vertical ``fov``."""
        aspect = check_finite_number("aspect", aspect, positive=True)
        near = check_finite_number("near", near, positive=True)
        far = check_finite_number("far", far, positive=True)
        if far <= near:
            raise ValueError(f"far must be > near, got near={near}, far={far}")
        f = 1.0 / math.tan(math.radians(float(self.fov)) / 2)
        proj = torch.zeros(4, 4, dtype=self.position.dtype, device=self.device)
        proj[0, 0] = f / aspect
        proj[1, 1] = f
        proj[2, 2] = (far + near) / (near - far)
        proj[2, 3] = 2 * far * near / (near - far)
        proj[3, 2] = -1.0
        return proj

    # ---- edits (each returns self) ------------------------------------------------------
    def look_at(self, position=None, target=None, up=None) -> "Camera":
        """Set any of position, target and up at once."""
        new_position = self.position if position is None else check_vector3("position", position, device=self.device)
        new_target = self.target if target is None else check_vector3("target", target, device=self.device)
        new_up = self.up if up is None else check_vector3("up", up, device=self.device)
        return self._replace(new_position, new_target, new_up)

    def _replace(self, position: torch.Tensor, target: torch.Tensor, up: torch.Tensor,
                 action: str = "look_at") -> "Camera":
        """Commit a new frame, or raise ``ValueError`` naming ``action`` and leave the camera as it was."""
        for name, vector in (("position", position), ("target", target)):
            if not bool(torch.isfinite(vector.detach()).all()):
                raise ValueError(f"{action} would give the camera a non-finite {name}: {vector.tolist()}")
        old = (self.position, self.target, self.up)
        self.position, self.target, self.up = position, target, up
        try:
            self._check_frame()
        except ValueError:
            self.position, self.target, self.up = old
            raise
        return self

    def update_position(self, position) -> "Camera":
        """Move the camera to ``position`` (x, y, z), keeping its target (PyVR's name for
        ``look_at(position=...)``). Returns self."""
        return self.look_at(position=position)

    def update_target(self, target) -> "Camera":
        """Look at ``target`` (x, y, z) from the same position (``look_at(target=...)``). Returns self."""
        return self.look_at(target=target)

    def update_fov(self, fov) -> "Camera":
        """Set the vertical field of view, in degrees (0 < fov < 180). Returns self."""
        self.fov = _check_fov(fov)
        return self

    def orbit(self, d_azimuth: float, d_elevation: float) -> "Camera":
        """Turn the position around the target (degrees): azimuth about ``up``, elevation
        towards it. Elevation stops 1° short of the poles so ``up`` never aligns with the view.

        A learnable position, target or up keeps its graph: the new position is the old offset
        from the target turned by two rotations (``look_at``, ``zoom`` and ``pan`` keep it too).
        Where the elevation stops at a pole the turn is taken as a constant angle.
        """
        d_az = math.radians(check_finite_number("d_azimuth", d_azimuth))
        d_el = check_finite_number("d_elevation", d_elevation)
        dtype = torch.float64  # turned in float64, stored in the position's dtype
        up = self.up.to(dtype) / self.up.to(dtype).norm()
        offset = (self.position - self.target).to(dtype)  # (3,), keeps the graph
        # 1. Azimuth: Rodrigues' rotation of the offset about up.
        offset = (math.cos(d_az) * offset + math.sin(d_az) * torch.linalg.cross(up, offset)
                  + (1.0 - math.cos(d_az)) * (offset @ up) * up)
        # 2. Elevation: turn within the plane of up and the offset's horizontal part, by the angle
        #    left before the pole limit (measured without the graph).
        height = offset @ up
        horizontal = offset - height * up
        with torch.no_grad():
            radius = float(offset.norm())
            elevation = math.degrees(math.asin(max(-1.0, min(1.0, float(height) / radius))))
            new_elevation = max(-_MAX_ELEVATION_DEG, min(_MAX_ELEVATION_DEG, elevation + d_el))
        if float(horizontal.detach().norm()) < 1e-12 * radius:  # straight above or below the target
            across = torch.linalg.cross(up, torch.tensor([1.0, 0.0, 0.0], dtype=dtype, device=up.device))
            el = math.radians(new_elevation)
            offset = offset.norm() * (math.cos(el) * across / across.norm() + math.sin(el) * up)
        else:  # offset = |h|·ĥ + height·up, turned towards up
            turn = math.radians(new_elevation - elevation)
            flat = horizontal.norm()
            offset = math.cos(turn) * offset + math.sin(turn) * (flat * up - height * horizontal / flat)
        return self._replace((self.target.to(dtype) + offset).to(self.position.dtype), self.target, self.up,
                             f"orbit by ({d_azimuth}, {d_elevation})")

    def zoom(self, factor: float) -> "Camera":
        """Move towards the target: ``factor`` 2 halves the distance, 0.5 doubles it (keeps the
        graph of a learnable position and target)."""
        factor = check_finite_number("factor", factor, positive=True)
        new_offset = (self.position - self.target) / factor
        if float(new_offset.detach().norm()) < 1e-6:
            raise ValueError(f"zoom factor {factor} would put the camera on its target")
        return self._replace(self.target + new_offset, self.target, self.up, f"zoom factor {factor}")

    def pan(self, dx: float, dy: float) -> "Camera":
        """Shift position and target together by ``dx`` along right and ``dy`` along up (world
        units; keeps the graph of a learnable camera)."""
        dx = check_finite_number("dx", dx)
        dy = check_finite_number("dy", dy)
        right, true_up, _ = self.basis()
        shift = (dx * right + dy * true_up).to(self.position.dtype)
        return self._replace(self.position + shift, self.target + shift.to(self.target.dtype), self.up,
                             f"pan by ({dx}, {dy})")

    def __repr__(self) -> str:
        return (f"Camera(position={self.position.detach().cpu().tolist()}, "
                f"target={self.target.detach().cpu().tolist()}, up={self.up.detach().cpu().tolist()}, "
                f"fov={float(self.fov):g})")
