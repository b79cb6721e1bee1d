"""The peer: VTK's fixed-point CPU ray caster (``vtkFixedPointVolumeRayCastMapper``) set up with
our optical model, for any volume, transfer functions and camera.

``VTKPeer.from_renderer(renderer, volume, camera, image_size, step)`` reads everything from a
``VolumeRenderer`` so the two sides cannot drift: the volume in its own dtype (uint8, int16,
uint16 and float32 are handed to VTK without a copy; other dtypes become float32), spacing and
origin, the piecewise-linear opacity and colour transfer functions (their knots, mapped from the
TF domain [0, 1] onto the value range), opacity per unit distance, trilinear interpolation,
Blinn–Phong with our coefficients, a headlight (or a directional light), the camera (position,
target, up, vertical field of view) and the sample distance.

The light: VTK's automatic headlight has ambient colour (0, 0, 0), so a volume property's
``SetAmbient(0.3)`` adds nothing under it; ours adds 0.3 × the sample's colour. The peer makes
its own light with white ambient, diffuse and specular colours (``white_ambient=False`` restores
VTK's default light, for the comparison in RESULTS.md). Measured on S1 (512², 128³ torus):
mean |ours − VTK| per channel 0.0148 with VTK's light, about 0.0015 with the white ambient.

Needs ``pip install vtk`` (the ``bench`` extra) and EGL for offscreen rendering.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["VTKPeer", "s1_vtk", "set_vtk_threads", "NATIVE_DTYPES"]

#: dtypes VTK's ray caster reads as they are (the array is shared, not copied).
#: Where VTK's fixed-point caster stops a ray: once its remaining opacity, in 15-bit fixed point,
#: is below 0xff (``VTKKWRCHelper_CompositeColorAndCheckEarlyTermination``). Our kernels' default
#: is 1e-6, so on dense volumes VTK takes fewer samples; ``render(termination=VTK_TERMINATION)``
#: does VTK's work.
VTK_TERMINATION = 255 / 32768

NATIVE_DTYPES = (np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.uint16), np.dtype(np.float32))


def set_vtk_threads(n: int | None) -> None:
    """Let VTK's ray caster use at most ``n`` threads (None: all cores)."""
    import vtk

    vtk.vtkMultiThreader.SetGlobalMaximumNumberOfThreads(0 if n is None else n)


def _vtk():
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import vtk

    return vtk


class VTKPeer:
    """One offscreen VTK scene: ``render()`` casts a new frame, ``image()`` reads it back as an
    (H, W, 3) float array in [0, 1] (row 0 at the top, as ours), ``description`` names it.

    Args:
        volume: (D, H, W) numpy array, ``[z, y, x]`` (C order is x fastest, as VTK stores it).
        image_size: (H, W) or one int.
        step: sample distance in world units.
        value_range: (vmin, vmax) that the TF domain [0, 1] maps onto.
        opacity_points: ``[(s, opacity per unit distance), ...]`` over [0, 1].
        color_points: ``[(s, (r, g, b)), ...]`` over [0, 1].
        camera: ``(position, target, up, fov)``, world units, fov vertical in degrees.
        spacing, origin: (x, y, z) of the voxel grid.
        lighting: ``(ambient, diffuse, specular, shininess, light_direction or None for a headlight)``;
            None: no shading.
        opacity_unit_distance: as ``VolumeRenderer.opacity_unit_distance``.
        white_ambient: give the light white ambient colour (see the module's docstring).
        background: RGB.
    """

    def __init__(self, volume: np.ndarray, image_size, step: float, value_range, opacity_points, color_points,
                 camera, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                 lighting=(0.3, 0.7, 0.2, 20.0, None), opacity_unit_distance: float = 1.0,
                 white_ambient: bool = True, background=(0.0, 0.0, 0.0)):
        vtk = _vtk()
        from vtk.util import numpy_support

        height, width = (image_size, image_size) if np.isscalar(image_size) else image_size
        self.size = (int(height), int(width))
        volume = np.asarray(volume)
        if volume.ndim != 3:
            raise ValueError(f"volume must be (D, H, W), got shape {volume.shape}")
        if volume.dtype not in NATIVE_DTYPES:
            volume = volume.astype(np.float32)
        # Shared with VTK, not copied: keep a reference for as long as VTK reads it.
        self._values = np.ascontiguousarray(volume)
        depth, rows, cols = volume.shape
        image = vtk.vtkImageData()
        image.SetDimensions(cols, rows, depth)
        image.SetSpacing(*(float(s) for s in spacing))
        image.SetOrigin(*(float(o) for o in origin))
        scalars = numpy_support.numpy_to_vtk(self._values.reshape(-1), deep=False)
        image.GetPointData().SetScalars(scalars)
        self._image = image

        vmin, vmax = (float(v) for v in value_range)
        span = vmax - vmin
        colour = vtk.vtkColorTransferFunction()
        for s, rgb in color_points:
            colour.AddRGBPoint(vmin + float(s) * span, *(float(c) for c in rgb))
        opacity = vtk.vtkPiecewiseFunction()
        for s, a in opacity_points:
            opacity.AddPoint(vmin + float(s) * span, float(a))
        prop = vtk.vtkVolumeProperty()
        prop.SetColor(colour)
        prop.SetScalarOpacity(opacity)
        prop.SetScalarOpacityUnitDistance(float(opacity_unit_distance))  # same opacity semantics as ours
        prop.SetInterpolationTypeToLinear()
        renderer = vtk.vtkRenderer()
        renderer.SetBackground(*(float(c) for c in background))
        if lighting is not None:
            ambient, diffuse, specular, shininess, direction = lighting
            prop.ShadeOn()
            prop.SetAmbient(float(ambient))
            prop.SetDiffuse(float(diffuse))
            prop.SetSpecular(float(specular))
            prop.SetSpecularPower(float(shininess))
            if white_ambient or direction is not None:
                light = vtk.vtkLight()
                if direction is None:
                    light.SetLightTypeToHeadlight()
                else:  # directional, from ``direction`` (scene → light) towards the scene
                    light.SetLightTypeToSceneLight()
                    light.SetPositional(False)
                    light.SetFocalPoint(0.0, 0.0, 0.0)
                    light.SetPosition(*(float(d) for d in direction))
                light.SetColor(1.0, 1.0, 1.0)  # diffuse and specular colour
                if white_ambient:
                    light.SetAmbientColor(1.0, 1.0, 1.0)
                renderer.AutomaticLightCreationOff()
                renderer.RemoveAllLights()
                renderer.AddLight(light)
        else:
            prop.ShadeOff()
        mapper = vtk.vtkFixedPointVolumeRayCastMapper()
        mapper.SetInputData(image)
        mapper.SetAutoAdjustSampleDistances(0)
        mapper.SetSampleDistance(float(step))
        mapper.SetImageSampleDistance(1.0)
        actor = vtk.vtkVolume()
        actor.SetMapper(mapper)
        actor.SetProperty(prop)
        renderer.AddVolume(actor)
        position, target, up, fov = camera
        vtk_camera = renderer.GetActiveCamera()
        vtk_camera.SetPosition(*(float(p) for p in position))
        vtk_camera.SetFocalPoint(*(float(t) for t in target))
        vtk_camera.SetViewUp(*(float(u) for u in up))
        vtk_camera.SetViewAngle(float(fov))
        renderer.ResetCameraClippingRange()
        window = vtk.vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetSize(self.size[1], self.size[0])
        window.AddRenderer(renderer)
        self._actor, self._window, self._renderer, self._mapper = actor, window, renderer, mapper
        self.description = (f"vtkFixedPointVolumeRayCastMapper {vtk.vtkVersion.GetVTKVersion()} "
                            f"({window.GetClassName()})")

    @classmethod
    def from_renderer(cls, renderer, volume, camera, image_size, step: float, value_range=None,
                      use_lighting: bool = True, white_ambient: bool = True) -> "VTKPeer":
        """The scene ``renderer.render(volume, camera, image_size, step_size=step, value_range=...)``
        draws: its TFs, lighting, spacing, origin and opacity unit distance."""
        if value_range is None:
            value_range = renderer.value_range_of(volume)
        light = renderer.lighting
        lighting = (float(light.ambient), float(light.diffuse), float(light.specular), float(light.shininess),
                    None if light.headlight else light.light_direction.detach().cpu().tolist()) if use_lighting else None
        cam = (camera.position.detach().cpu().tolist(), camera.target.detach().cpu().tolist(),
               camera.up.detach().cpu().tolist(), float(camera.fov))
        values = volume.detach().cpu().numpy() if hasattr(volume, "detach") else volume
        return cls(values, image_size, step, value_range, renderer.opacity_tf.get_control_points(),
                   renderer.color_tf.get_control_points(), cam, renderer.spacing.tolist(), renderer.origin.tolist(),
                   lighting, renderer.opacity_unit_distance, white_ambient)

    def render(self) -> None:
        """Cast one new frame (the actor is marked modified, so VTK does not reuse the last one)."""
        self._actor.Modified()
        self._window.Render()

    __call__ = render

    def image(self) -> np.ndarray:
        """The last frame as (H, W, 3) float64 in [0, 1], row 0 at the top."""
        vtk = _vtk()
        from vtk.util import numpy_support

        grab = vtk.vtkWindowToImageFilter()
        grab.SetInput(self._window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        pixels = numpy_support.vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars())
        height, width = self.size
        return pixels.reshape(height, width, -1)[::-1, :, :3].astype(np.float64) / 255.0


def s1_vtk(volume_np, image_side: int, step: float, white_ambient: bool = True):
    """VTK set up for S1 (128³-style torus, 'hot', opacity 0 → 0.1 over the value range, our
    lighting, the S1 camera): returns ``(render, description)``, ``render()`` casting one new frame."""
    import matplotlib

    side = volume_np.shape[0]
    scale = (side - 1) / 127
    centre = (side - 1) / 2
    volume_np = np.asarray(volume_np)
    colours = matplotlib.colormaps["hot"](np.linspace(0, 1, 256))[:, :3]
    peer = VTKPeer(volume_np, image_side, step, (float(volume_np.min()), float(volume_np.max())),
                   [(0.0, 0.0), (1.0, 0.1)], list(zip(np.linspace(0, 1, 256), colours)),
                   ((200 * scale, 100 * scale, 200 * scale), (centre,) * 3, (0, 1, 0), 45.0),
                   white_ambient=white_ambient)
    return peer.render, peer.description


def image_difference(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Per-channel |ours − theirs| of two (H, W, 3) images in [0, 1], ours rounded to 8 bits
    first (VTK's frame is 8-bit): mean, 99th percentile, max, and both means."""
    ours = np.round(np.clip(np.asarray(ours, dtype=np.float64), 0, 1) * 255) / 255
    difference = np.abs(ours - theirs)
    return {"mean_abs": float(difference.mean()), "p99_abs": float(np.percentile(difference, 99)),
            "max_abs": float(difference.max()), "ours_mean": float(ours.mean()), "theirs_mean": float(theirs.mean())}


def side_by_side(ours: np.ndarray, theirs: np.ndarray, path, gain: float = 10.0, side: int | None = None) -> None:
    """Write a PNG: ours | VTK | |difference| × ``gain`` (grey), each panel labelled, optionally
    resized to ``side`` pixels high."""
    from PIL import Image, ImageDraw

    ours = np.round(np.clip(np.asarray(ours, dtype=np.float64), 0, 1) * 255) / 255
    difference = np.clip(np.abs(ours - theirs).max(axis=-1, keepdims=True) * gain, 0, 1).repeat(3, axis=-1)
    panels = []
    for label, picture in (("ours (fused)", ours), ("VTK", theirs), (f"|difference| x {gain:g}", difference)):
        panel = Image.fromarray(np.round(picture * 255).astype(np.uint8))
        if side is not None and panel.height != side:
            panel = panel.resize((round(panel.width * side / panel.height), side), Image.LANCZOS)
        ImageDraw.Draw(panel).text((6, 4), label, fill=(255, 255, 255))
        panels.append(panel)
    sheet = Image.new("RGB", (sum(p.width for p in panels), panels[0].height))
    x = 0
    for panel in panels:
        sheet.paste(panel, (x, 0))
        x += panel.width
    sheet.save(path, optimize=True)
