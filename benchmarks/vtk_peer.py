"""The peer: VTK's fixed-point CPU ray caster on the S1 scene, with the same optical model.

Same transfer functions (the 'hot' colormap, opacity 0 → 0.1 linear over the value range), opacity
per unit distance 1, trilinear interpolation, Blinn–Phong with our coefficients, the same camera.
Needs ``pip install vtk`` (the ``bench`` extra) and EGL for offscreen rendering.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["s1_vtk", "set_vtk_threads"]


def set_vtk_threads(n: int | None) -> None:
    """Let VTK's ray caster use at most ``n`` threads (None: all cores)."""
    import vtk

    vtk.vtkMultiThreader.SetGlobalMaximumNumberOfThreads(0 if n is None else n)


def s1_vtk(volume_np, image_side: int, step: float):
    """VTK's vtkFixedPointVolumeRayCastMapper set up for S1, offscreen (EGL): returns
    ``(render, description)``, ``render()`` casting one new frame."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import matplotlib
    import vtk
    from vtk.util import numpy_support

    side = volume_np.shape[0]
    image = vtk.vtkImageData()
    image.SetDimensions(side, side, side)
    image.SetSpacing(1.0, 1.0, 1.0)
    image.SetOrigin(0.0, 0.0, 0.0)
    # numpy [z, y, x] in C order is x fastest, as VTK stores it.
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(volume_np.ravel(), deep=True))
    vmin, vmax = float(volume_np.min()), float(volume_np.max())
    colour = vtk.vtkColorTransferFunction()
    for s, rgba in zip(np.linspace(0, 1, 256), matplotlib.colormaps["hot"](np.linspace(0, 1, 256))):
        colour.AddRGBPoint(vmin + s * (vmax - vmin), *rgba[:3])
    opacity = vtk.vtkPiecewiseFunction()
    opacity.AddPoint(vmin, 0.0)
    opacity.AddPoint(vmax, 0.1)
    prop = vtk.vtkVolumeProperty()
    prop.SetColor(colour)
    prop.SetScalarOpacity(opacity)
    prop.SetScalarOpacityUnitDistance(1.0)  # same opacity semantics as ours
    prop.SetInterpolationTypeToLinear()
    prop.ShadeOn()
    prop.SetAmbient(0.3)
    prop.SetDiffuse(0.7)
    prop.SetSpecular(0.2)
    prop.SetSpecularPower(20.0)
    mapper = vtk.vtkFixedPointVolumeRayCastMapper()
    mapper.SetInputData(image)
    mapper.SetAutoAdjustSampleDistances(0)
    mapper.SetSampleDistance(step)
    mapper.SetImageSampleDistance(1.0)
    actor = vtk.vtkVolume()
    actor.SetMapper(mapper)
    actor.SetProperty(prop)
    renderer = vtk.vtkRenderer()
    renderer.AddVolume(actor)
    renderer.SetBackground(0, 0, 0)
    camera = renderer.GetActiveCamera()
    scale = (side - 1) / 127
    camera.SetPosition(200 * scale, 100 * scale, 200 * scale)
    camera.SetFocalPoint(*((side - 1) / 2,) * 3)
    camera.SetViewUp(0, 1, 0)
    camera.SetViewAngle(45)
    renderer.ResetCameraClippingRange()
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(image_side, image_side)
    window.AddRenderer(renderer)

    def render():
        actor.Modified()  # force a new ray cast each time
        window.Render()

    return render, (f"vtkFixedPointVolumeRayCastMapper {vtk.vtkVersion.GetVTKVersion()} "
                    f"({window.GetClassName()})")
