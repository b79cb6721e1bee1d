"""Render settings that every backend and device must render alike: the agreement matrix.

``CASES`` maps a name to ``render_rgba`` options, plus ``setup`` (a function applied to the
renderer) and ``renderer_options`` (``VolumeRenderer`` arguments). The fused kernel's tests
(PyTorch stages vs kernel) and the CUDA tests (CPU vs GPU) both run every case.
"""

import numpy as np

from pyvr_jupyter.torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction,
                                         OpacityTransferFunction)

SHAPE = (22, 18, 26)  # (D, H, W): non-cubic on purpose


def camera_for(shape, spacing=(1, 1, 1), origin=(0, 0, 0), azimuth=35.0, elevation=20.0):
    return Camera.for_volume(shape, spacing=spacing, origin=origin).orbit(azimuth, elevation)


CASES = {
    **{f"compositing={name}": dict(compositing=name) for name in COMPOSITING_STRATEGIES},
    "compositing=minip": dict(compositing="minip", value_range=(-1.0, 1.0)),  # the minimum is 0: lift it
    "compositing=average": dict(compositing="average", value_range=(0.0, 0.2)),  # brighten the mean
    "no lighting": dict(use_lighting=False),
    "directional light": dict(setup=lambda r: r.set_lighting(light_direction=(1.0, -0.5, 0.3))),
    "strong specular": dict(setup=lambda r: r.set_lighting(specular=0.9, shininess=3.0)),
    "use_opacity=False": dict(use_opacity=False),
    "use_color=False": dict(use_color=False),
    "both off, mip": dict(use_opacity=False, use_color=False, compositing="mip"),
    "value_range": dict(value_range=(0.2, 0.7)),
    "n_samples": dict(n_samples=57),
    "fine steps": dict(step_size=0.21),
    "long steps": dict(step_size=2.5),
    "anisotropic spacing and origin": dict(renderer_options=dict(spacing=(0.8, 1.3, 2.1), origin=(-5.0, 3.0, 10.0))),
    "opacity unit distance": dict(renderer_options=dict(opacity_unit_distance=2.7)),
    "small memory budget": dict(renderer_options=dict(max_memory_bytes=1 << 20)),
    "uniform opacity LUT": dict(setup=lambda r: r.set_opacity_transfer_function(
        OpacityTransferFunction.from_lut(np.linspace(0, 0.4, 17) ** 2))),
    # Zero opacity up to a knot: the kernels skip the lookups there (fused/args.clear_below).
    "opacity zero below a knot": dict(setup=lambda r: r.set_opacity_transfer_function(
        OpacityTransferFunction([(0.0, 0.0), (0.3, 0.0), (0.45, 0.2), (1.0, 0.4)]))),
    "uniform LUT zero below a knot": dict(setup=lambda r: r.set_opacity_transfer_function(
        OpacityTransferFunction.from_lut([0.0, 0.0, 0.0, 0.3, 0.5]))),
    "LUT colours of odd length": dict(setup=lambda r: r.set_color_transfer_function(
        ColorTransferFunction.from_lut(np.random.default_rng(0).random((7, 3))))),
    "custom colour points": dict(setup=lambda r: r.set_color_transfer_function(ColorTransferFunction().set_custom_colors(
        [(0.0, (0, 0, 1)), (0.3, (0, 1, 0)), (0.8, (1, 0, 0)), (1.0, (1, 1, 1))]))),
    # A steep TF amplifies the float32 rounding of the PyTorch stages' rays (the kernel computes
    # them in float64): the difference scales with the slope, measured 6e-5 with a 1e-3-wide
    # step, 1.2e-5 with a 0.3-wide one and 5.6e-6 with a 0.6-wide one.
    "opaque step TF": dict(setup=lambda r: r.set_opacity_transfer_function(
        OpacityTransferFunction.step(0.4, high=0.95, width=0.6))),
    "no empty-space skipping": dict(setup=lambda r: setattr(r, "skip_empty_space", False)),
    "clip box": dict(clip_box=((3.0, 2.0, 4.0), (18.0, 12.5, 15.0))),
    "clip planes": dict(clip_planes=[((12.0, 8.0, 10.0), (1.0, 0.3, -0.2)), ((0.0, 5.0, 0.0), (0.0, 1.0, 0.0))]),
    "camera inside the volume": dict(camera=Camera(position=(12.0, 9.0, 10.0), target=(0.0, 0.0, 0.0), fov=70)),
    # Samples at each pixel's fraction of a step (raysampling.sample_fractions), short last steps included.
    "jitter": dict(jitter=True),
    "jitter, long steps, mip": dict(jitter=True, step_size=2.5, compositing="mip"),
    "jitter, clip planes, early termination": dict(jitter=True, compositing="early_termination",
                                                   clip_planes=[((12.0, 8.0, 10.0), (1.0, 0.3, -0.2))]),
}
