"""Overlays drawn onto a rendered picture in Python (Pillow): what makes an exported image readable.

An orientation marker (world x/y/z in red/green/blue, turned as the camera sees them), the
outline of the volume's box (its 12 edges in perspective; those behind the volume faint and
dashed, ``box_hidden_edges``), a scale bar in world units (a round
length at the target's depth, labelled with ``units``) and a colour bar with the value window's
numbers. Each is a pure function of (image, camera, ...) returning a new (H, W, 3) uint8 image;
``draw_overlays`` draws the ones asked for. They back ``VolumeView.screenshot(overlays=True)``.

Example:
    >>> from pyvr_jupyter.imaging.overlays import draw_overlays
    >>> pixels = np.zeros((96, 128, 3), np.uint8)                          # a rendered picture
    >>> camera = Camera.for_volume((16, 16, 16))
    >>> image = draw_overlays(pixels, camera, ((0, 0, 0), (15, 15, 15)), colormap="hot",
    ...                       value_range=(0.0, 1.0), units="mm")
    >>> image.shape, image.dtype
    ((96, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..torch_renderer import Camera, ColorTransferFunction
from ..torch_renderer.stages.channels import channel_color

__all__ = ["draw_overlays", "draw_axes", "draw_box", "draw_scale_bar", "draw_colorbar", "project_points",
           "box_corners", "box_hidden_edges", "nice_length", "colormap_colors", "format_value", "AXIS_COLORS",
           "CORNERS", "BOX_EDGES"]

AXIS_COLORS = ((230, 60, 60), (60, 200, 60), (70, 120, 255))  # x red, y green, z blue
CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")
_TEXT = (255, 255, 255)
_SHADOW = (0, 0, 0)
_BOX_COLOR = (200, 200, 200)
_HIDDEN_BOX_COLOR = (110, 110, 110)  # edges behind the volume: faint, and dashed (js/src/overlays.js agrees)


# ---- geometry --------------------------------------------------------------------------------
def _basis(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, true_up, forward), each (3,) float64."""
    with torch.no_grad():
        return tuple(v.detach().double().cpu().numpy() for v in camera.basis())


def project_points(camera: Camera, points, image_size) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions of world points, as the renderer's rays see them.

    Args:
        camera: the view.
        points: (N, 3) world positions (x, y, z).
        image_size: (H, W).

    Returns:
        ``(xy, depth)``: (N, 2) pixel coordinates (column, row) with pixel centres at integers
        (Pillow's convention; row 0 is the top), and (N,) depth along the view direction (≤ 0:
        behind the camera, where ``xy`` is meaningless).

    Example:
        >>> cam = Camera(position=(0, 0, 10), target=(0, 0, 0))
        >>> project_points(cam, [[0, 0, 0]], (100, 100))[0]               # the target: the centre
        array([[49.5, 49.5]])
    """
    height, width = image_size
    right, up, forward = _basis(camera)
    offsets = np.asarray(points, dtype=np.float64).reshape(-1, 3) - camera.position.detach().double().cpu().numpy()
    depth = offsets @ forward
    tan_half = math.tan(math.radians(float(camera.fov)) / 2)
    safe = np.where(depth > 1e-12, depth, 1e-12)
    x_ndc = (offsets @ right) / (safe * tan_half * width / height)  # -1 … 1 across the image
    y_ndc = (offsets @ up) / (safe * tan_half)
    xy = np.stack([(x_ndc + 1) * width / 2 - 0.5, (1 - y_ndc) * height / 2 - 0.5], axis=1)
    return xy, depth


def box_corners(box) -> np.ndarray:
    """(8, 3) corners of a box given as ``VolumeBox`` or ``((x0, y0, z0), (x1, y1, z1))``;
    corner k has x from bit 0, y from bit 1, z from bit 2 (0: minimum, 1: maximum)."""
    low, high = (np.asarray(torch.as_tensor(v).detach().double().cpu(), dtype=np.float64).reshape(3) for v in box)
    return np.array([[(high if k & 1 else low)[0], (high if k & 2 else low)[1], (high if k & 4 else low)[2]]
                     for k in range(8)])


#: The box's 12 edges as pairs of ``box_corners`` indices (the order of js/src/overlays.js' BOX_EDGES).
BOX_EDGES = [(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit]


def box_hidden_edges(camera: Camera, box) -> list[bool]:
    """For each of ``BOX_EDGES``, whether it lies behind the volume: both faces it joins look
    away from the camera (the camera is not outside the box on either face's side).

    Example:
        >>> camera = Camera(position=(3, 4, 12), target=(0.5, 0.5, 0.5))   # outside three faces
        >>> [edge for edge, hidden in zip(BOX_EDGES, box_hidden_edges(camera, ((0, 0, 0), (1, 1, 1)))) if hidden]
        [(0, 1), (0, 2), (0, 4)]
    """
    corners = box_corners(box)
    low, high = corners[0], corners[7]
    position = camera.position.detach().double().cpu().numpy()
    hidden = []
    for a, b in BOX_EDGES:
        along = (a ^ b).bit_length() - 1  # the axis the edge runs along
        faces = [position[axis] > high[axis] if a >> axis & 1 else position[axis] < low[axis]
                 for axis in range(3) if axis != along]
        hidden.append(not any(faces))
    return hidden


def _dashed_line(draw: ImageDraw.ImageDraw, p, q, fill, width: int, dash: float) -> None:
    """A line from ``p`` to ``q`` in dashes of ``dash`` pixels with gaps as long."""
    length = math.hypot(q[0] - p[0], q[1] - p[1])
    if not math.isfinite(length) or length == 0:
        return
    start = 0.0
    while start < length:
        end = min(length, start + dash)
        draw.line([(p[0] + (q[0] - p[0]) * start / length, p[1] + (q[1] - p[1]) * start / length),
                   (p[0] + (q[0] - p[0]) * end / length, p[1] + (q[1] - p[1]) * end / length)], fill=fill, width=width)
        start += 2 * dash
        if start > 1e5:  # an edge projected far beyond the image: the rest is off screen
            break


def nice_length(target: float) -> float:
    """The round length (1, 2 or 5 × 10^k) nearest below ``target`` (> 0).

    Example:
        >>> nice_length(37.0), nice_length(0.8)
        (20.0, 0.5)
    """
    if not target > 0 or not math.isfinite(target):
        raise ValueError(f"target must be a positive length, got {target}")
    power = 10.0 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target * (1 + 1e-9))


# ---- drawing helpers -------------------------------------------------------------------------
def _font(height: int) -> ImageFont.ImageFont:
    size = max(10, round(height / 40))
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def _text(draw: ImageDraw.ImageDraw, xy, text: str, font, anchor: str = "la") -> None:
    """Text with a 1-pixel dark outline, readable on any background."""
    try:
        draw.text(xy, text, fill=_TEXT, font=font, anchor=anchor, stroke_width=1, stroke_fill=_SHADOW)
    except (TypeError, ValueError):  # bitmap fonts know no anchors
        draw.text(xy, text, fill=_TEXT, font=font)


def _as_image(image) -> Image.Image:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {array.dtype} {array.shape}")
    return Image.fromarray(array.copy())


def _corner_origin(corner: str, size: tuple[int, int], extent: float, margin: float) -> tuple[float, float]:
    if corner not in CORNERS:
        raise ValueError(f"corner must be one of {', '.join(CORNERS)}, got {corner!r}")
    height, width = size
    x = margin + extent if corner.endswith("left") else width - 1 - margin - extent
    y = margin + extent if corner.startswith("top") else height - 1 - margin - extent
    return x, y


# ---- the overlays ----------------------------------------------------------------------------
def draw_axes(image, camera: Camera, corner: str = "bottom-left", length: float | None = None) -> np.ndarray:
    """An orientation marker: world +x, +y, +z as red, green, blue lines from a corner, turned
    as the camera sees them (orthographically), labelled; axes pointing away drawn first.

    Args:
        image: (H, W, 3) uint8.
        camera: the view.
        corner: one of ``CORNERS``.
        length: the axes' length in pixels (default an eighth of the shorter side).

    Returns:
        A new (H, W, 3) uint8 image.
    """
    canvas = _as_image(image)
    height, width = canvas.height, canvas.width
    length = float(length) if length is not None else max(12.0, min(height, width) / 8)
    font = _font(height)
    cx, cy = _corner_origin(corner, (height, width), length, margin=max(6.0, length / 3))
    right, up, forward = _basis(camera)
    draw = ImageDraw.Draw(canvas)
    line_width = max(2, round(length / 20))
    for axis in sorted(range(3), key=lambda a: -forward[a]):  # the farthest (most along forward) first
        end = (cx + length * right[axis], cy - length * up[axis])
        draw.line([(cx, cy), end], fill=AXIS_COLORS[axis], width=line_width)
        label = (cx + 1.25 * length * right[axis], cy - 1.25 * length * up[axis])
        _text(draw, label, "xyz"[axis], font, anchor="mm")
    return np.asarray(canvas)


def draw_box(image, camera: Camera, box, color=_BOX_COLOR) -> np.ndarray:
    """The outline of ``box`` (a ``VolumeBox`` or two corners): its 12 edges in perspective,
    those behind the volume (``box_hidden_edges``) faint and dashed, the others in ``color``;
    edges reaching behind the camera are cut at a near plane.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    canvas = _as_image(image)
    size = (canvas.height, canvas.width)
    corners = box_corners(box)
    _, _, forward = _basis(camera)
    position = camera.position.detach().double().cpu().numpy()
    near = 1e-3 * max(1.0, camera.distance)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(min(size) / 256))
    hidden = box_hidden_edges(camera, box)
    for index in sorted(range(len(BOX_EDGES)), key=lambda i: not hidden[i]):  # hidden edges first
        a, b = BOX_EDGES[index]
        p, q = corners[a], corners[b]
        dp, dq = (p - position) @ forward, (q - position) @ forward
        if dp < near and dq < near:
            continue
        if dp < near or dq < near:  # cut at the near plane
            s = (near - dp) / (dq - dp)
            cut = p + s * (q - p)
            p, q = (cut, q) if dp < near else (p, cut)
        (x0, y0), (x1, y1) = project_points(camera, np.stack([p, q]), size)[0]
        if hidden[index]:
            _dashed_line(draw, (x0, y0), (x1, y1), _HIDDEN_BOX_COLOR, width, 4 * width)
        else:
            draw.line([(x0, y0), (x1, y1)], fill=tuple(color), width=width)
    return np.asarray(canvas)


def draw_scale_bar(image, camera: Camera, units: str = "", corner: str = "bottom-right",
                   fraction: float = 0.2) -> np.ndarray:
    """A bar of a round world length (1, 2 or 5 × 10^k, about ``fraction`` of the image's width
    or less) labelled ``"<length> <units>"``. It is true at the depth of the camera's target
    (perspective makes nearer things larger).

    Returns:
        A new (H, W, 3) uint8 image.
    """
    canvas = _as_image(image)
    height, width = canvas.height, canvas.width
    tan_half = math.tan(math.radians(float(camera.fov)) / 2)
    world_per_pixel = 2 * camera.distance * tan_half / height
    length = nice_length(fraction * width * world_per_pixel)
    pixels = length / world_per_pixel
    margin = max(6.0, min(height, width) / 24)
    font = _font(height)
    x1 = width - 1 - margin if corner.endswith("right") else margin + pixels
    y = height - 1 - margin if corner.startswith("bottom") else margin + font.size + 4
    if corner not in CORNERS:
        raise ValueError(f"corner must be one of {', '.join(CORNERS)}, got {corner!r}")
    draw = ImageDraw.Draw(canvas)
    thickness = max(2, round(height / 128))
    draw.rectangle([x1 - pixels, y - thickness, x1, y], fill=_TEXT, outline=_SHADOW)
    label = f"{length:g} {units}".strip()
    _text(draw, (x1 - pixels / 2, y - thickness - 3), label, font, anchor="md")
    return np.asarray(canvas)


def colormap_colors(colormap, n: int) -> np.ndarray:
    """(n, 3) uint8 colours of ``colormap`` (a matplotlib colormap or colour name, a Colormap, or
    a ColorTransferFunction) from 0 to 1, as the renderer maps them."""
    tf = (colormap if isinstance(colormap, ColorTransferFunction) else
          channel_color(colormap) if isinstance(colormap, str) else ColorTransferFunction(colormap))
    with torch.no_grad():
        rgb = tf(torch.linspace(0.0, 1.0, n, dtype=torch.float32, device=tf.device)).detach().cpu().numpy()
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_colorbar(image, colormap, value_range: Sequence[float], side: str = "right") -> np.ndarray:
    """A vertical colour bar (the value window's top at the top) with the window's numbers at its
    ends and middle, along the ``side`` ('right' or 'left') of the image.

    Args:
        image: (H, W, 3) uint8.
        colormap: a matplotlib colormap name or ``Colormap``, or a ``ColorTransferFunction``.
        value_range: (vmin, vmax) the colour map spans.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    vmin, vmax = (float(v) for v in value_range)
    canvas = _as_image(image)
    height, width = canvas.height, canvas.width
    bar_h = max(8, round(0.5 * height))
    bar_w = max(4, round(min(height, width) / 32))
    margin = max(6, round(min(height, width) / 24))
    font = _font(height)
    x0 = width - margin - bar_w if side == "right" else margin
    y0 = (height - bar_h) // 2
    strip = colormap_colors(colormap, bar_h)[::-1]  # (bar_h, 3): vmax at the top
    canvas.paste(Image.fromarray(np.repeat(strip[:, None, :], bar_w, axis=1)), (x0, y0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([x0 - 1, y0 - 1, x0 + bar_w, y0 + bar_h], outline=_SHADOW)
    label_x = x0 - 4 if side == "right" else x0 + bar_w + 4
    anchor = "r" if side == "right" else "l"
    for value, y in ((vmax, y0), ((vmin + vmax) / 2, y0 + bar_h / 2), (vmin, y0 + bar_h - 1)):
        _text(draw, (label_x, y), format_value(value), font, anchor=anchor + "m")
    return np.asarray(canvas)


def format_value(value: float) -> str:
    """``value`` to 4 significant digits, in plain digits from 1e-4 up to 1e5 ("17280", not "%.4g"'s
    "1.728e+04": a uint16 window's top), else with an exponent; the twin of the browser's
    ``formatValue`` (js/src/overlays.js), so a saved picture's colour bar reads as the view's.

    Example: ``format_value(17283.0)`` → ``"17280"``; ``format_value(2.5e-05)`` → ``"2.5e-5"``"""
    value = float(f"{value:.4g}")
    if value == 0 or 1e-4 <= abs(value) < 1e5:
        return str(int(value)) if value.is_integer() else repr(value)  # repr: the shortest digits
    mantissa, exponent = f"{value:.4g}".split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:])}"  # "1.5e+7", as JavaScript writes it


def draw_overlays(image, camera: Camera, box=None, colormap=None, value_range=None, units: str = "",
                  axes: bool = True, outline: bool = True, scale: bool = True, colorbar: bool = True) -> np.ndarray:
    """Draw the overlays asked for (and possible with what is given) onto ``image``.

    Args:
        image: (H, W, 3) uint8, e.g. ``VolumeView.screenshot()``.
        camera: the camera the image was rendered with.
        box: the volume's world box (``VolumeRenderer.box(shape)``), for the outline.
        colormap, value_range: for the colour bar (both needed).
        units: the scale bar's label, e.g. "mm".
        axes, outline, scale, colorbar: which overlays to draw.

    Returns:
        A new (H, W, 3) uint8 image (the input is not changed).

    Example:
        With a view: ``draw_overlays(view.screenshot(), view.camera, view.renderer.box(view.volume.shape),
        colormap=view.renderer.color_tf, value_range=view.value_range, units="mm")``.

        >>> plain = np.zeros((64, 64, 3), np.uint8)
        >>> marked = draw_overlays(plain, Camera.for_volume((8, 8, 8)), outline=False, scale=False)
        >>> bool(marked.any()), bool(plain.any())                             # the input is left alone
        (True, False)
    """
    out = np.asarray(image)
    _as_image(out)  # checks the image before drawing anything
    if not isinstance(camera, Camera):
        raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
    if outline and box is not None:
        out = draw_box(out, camera, box)
    if scale:
        out = draw_scale_bar(out, camera, units)
    if colorbar and colormap is not None and value_range is not None:
        out = draw_colorbar(out, colormap, value_range)
    if axes:
        out = draw_axes(out, camera)
    return out
