"""The traits a VolumeView shares with the browser: render settings, clipping, overlays, labels, time.

A mixin of ``VolumeView`` (``volume_view.py``), which holds the parts that act on them: the
render settings are checked in ``settings`` (``SettingChecks``), clipping is ``clip_state``, the
overlays ``overlay_state``, time ``time_state``; ``widget._traits.python_owned`` marks the traits
only Python writes. A multi-channel volume's and a label map's traits are ``ChannelTraits`` and
``LabelTraits`` (``widget/channels.py``, ``widget/labels.py``).

Example:
    >>> view = VolumeView(volume)
    >>> view.step_size, view.show_axes = 0.25, True     # each re-renders or redraws the overlay
"""

from __future__ import annotations

import traitlets

from ...torch_renderer._checks import color_rgb
from .._traits import Integer, Number, python_owned

__all__ = ["ViewTraits"]


class RGB(traitlets.List):
    """Three numbers in [0, 1] (``SettingChecks`` checks the range); a colour's name or hex code
    ("white", "#1a1a2e") is taken as its RGB, as ``render(background=...)`` takes it."""

    def __init__(self, default_value):
        super().__init__(Number(), default_value, minlen=3, maxlen=3)

    def set(self, obj, value):
        if isinstance(value, str):  # before List.set, which would take it for a list of one string
            try:
                value = list(color_rgb(self.name, value))
            except ValueError as err:
                raise traitlets.TraitError(str(err)) from None
        super().set(obj, value)


class ViewTraits(traitlets.HasTraits):
    """Mixin: ``VolumeView``'s synced traits (module docstring)."""

    # ---- render settings (synced both ways; checked in ``settings``) ----------------------
    width = Integer(512).tag(sync=True)
    """Image width in pixels (full-quality frames)."""
    height = Integer(512).tag(sync=True)
    """Image height in pixels."""
    camera_position = traitlets.List(Number(), minlen=3, maxlen=3).tag(sync=True)
    """Camera position (x, y, z), world units."""
    camera_target = traitlets.List(Number(), minlen=3, maxlen=3).tag(sync=True)
    """Point the camera looks at."""
    camera_up = traitlets.List(Number(), [0.0, 1.0, 0.0], minlen=3, maxlen=3).tag(sync=True)
    """Camera up vector."""
    fov = Number(45.0).tag(sync=True)
    """Vertical field of view, degrees."""
    step_size = Number(0.5).tag(sync=True)
    """Step between samples for full-quality frames, in voxels (smaller is finer and slower)."""
    compositing = traitlets.Unicode("vectorized").tag(sync=True)
    """One of the renderer's compositing strategies; switching to a projection scales the opacity
    curve to reach 1 and, for "minip", "average" and "xray", sets ``value_range`` to the
    projection's own window; switching back to emission–absorption gives both back (``projection_look``)."""
    use_lighting = traitlets.Bool(True).tag(sync=True)
    """Shade with the volume's gradient."""
    background = RGB([0.0, 0.0, 0.0]).tag(sync=True)
    """Background RGB in [0, 1] (a colour's name or hex code is taken as its RGB)."""
    colormap = traitlets.Unicode("viridis").tag(sync=True)
    """Matplotlib colormap name."""
    opacity_points = traitlets.List(traitlets.List(Number(), minlen=2, maxlen=2)).tag(sync=True)
    """Opacity transfer function control points [[s, opacity], ...], s in [0, 1] (from the
    browser at most ``MAX_BROWSER_LIST``)."""
    value_range = traitlets.List(Number(), minlen=2, maxlen=2).tag(sync=True)
    """Scalar values mapped to the transfer functions' [0, 1]."""
    lighting = traitlets.Dict().tag(sync=True)
    """Light model: ambient, diffuse, specular, shininess, headlight, light_direction."""
    frame_budget_ms = Number(20.0).tag(sync=True)
    """Time a preview frame may take while interacting; its size and step follow from it."""
    show_stats = traitlets.Bool(False).tag(sync=True)
    """Show an fps and latency overlay."""
    # ---- set by Python only (``_traits.python_owned``) -----------------------------------
    snapshot = python_owned(traitlets.Bytes(b""))
    """The last full-quality frame as PNG, so saved notebooks show it without a kernel."""
    error = python_owned(traitlets.Unicode(""))
    """The last rendering error, shown over the view ('' when fine)."""
    # ---- clipping (``clip_state``) -------------------------------------------------------
    clip_box = traitlets.List(traitlets.List(Number(), minlen=3, maxlen=3), default_value=None,
                              allow_none=True, minlen=2, maxlen=2).tag(sync=True)
    """Crop box [[x0, y0, z0], [x1, y1, z1]] in world units, clamped to the volume's box; None: no crop."""
    clip_planes = traitlets.List(traitlets.List(traitlets.List(Number(), minlen=3, maxlen=3),
                                                minlen=2, maxlen=2)).tag(sync=True)
    """Clip planes [[point, normal], ...] in world units; each keeps the half-space its normal points into."""
    # ---- overlays (``overlay_state``), drawn by the browser -------------------------------
    show_axes = traitlets.Bool(False).tag(sync=True)
    """Orientation marker: world x/y/z in red/green/blue, following the camera (bottom-left)."""
    show_box = traitlets.Bool(False).tag(sync=True)
    """Outline of the volume's box, in perspective."""
    show_scale = traitlets.Bool(False).tag(sync=True)
    """Scale bar of a round length in world units at the target's depth (bottom-right)."""
    show_colorbar = traitlets.Bool(False).tag(sync=True)
    """Colour bar with the value window's numbers (right)."""
    units = traitlets.Unicode("").tag(sync=True)
    """World units, for the scale bar's label (e.g. "mm")."""
    overlay_box = python_owned(traitlets.List(traitlets.List(traitlets.Float(), minlen=3, maxlen=3), maxlen=2))
    """The volume's world box [[x0, y0, z0], [x1, y1, z1]] (set by Python)."""
    overlay_colors = python_owned(traitlets.List(traitlets.Unicode()))
    """The colour map from 0 to 1 as a few hex colours (set by Python)."""
    # ---- labels (the label map's table: ``widget/labels.py``) -----------------------------
    label_mode = traitlets.Unicode("blend").tag(sync=True)
    """How ``labels`` are drawn: "blend" (colours mixed into the TF's) or "iso" (surfaces)."""
    hover_label = python_owned(traitlets.Unicode(""))
    """"ID · name" of the label under the browser's resting pointer ('' elsewhere; ``label_picking``)."""
    notice = python_owned(traitlets.Unicode(""))
    """What the view is waiting for, shown at the top right over its picture ('' when nothing): the
    fast renderer compiling on first use (``kernel_wait.compiling_notice``)."""
    page_theme = traitlets.Enum(("", "light", "dark"), "", read_only=True)
    """The theme of the page showing the view, as its browser says it ("light", "dark"; "" where
    the front end does not say: Colab, a plain page); not synced. Editors beside the view in the
    "auto" theme take their text colour from it."""
    volume_version = traitlets.Int(0, read_only=True)
    """Counts ``volume`` assignments (not synced): the editor's histogram and the crop controls
    observe it, to span the new volume."""
    # ---- time (``time_state``) -----------------------------------------------------------
    time_index = Integer(0).tag(sync=True)
    """The time point shown (0 for a single volume); from the browser, an invalid one is ignored."""
    time_points = traitlets.Int(1, read_only=True)
    """How many time points there are (1 for a single volume); set by Python, observed by a
    ``TimePlayer``, not synced."""
