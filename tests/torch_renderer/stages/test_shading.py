"""Specification of shading.py: two-sided Blinn–Phong with normals from the volume's gradient."""

import pytest
import torch

from pyvr_jupyter.torch_renderer import Lighting, VolumeRenderer
from pyvr_jupyter.torch_renderer.stages.shading import shade


def reference_shade(rgb, gradients, view_dirs, lighting):
    """The textbook form, one normalised vector at a time."""
    to_eye = -view_dirs
    to_light = to_eye if lighting.headlight else lighting.light_direction / lighting.light_direction.norm()
    half = to_light + to_eye
    half = half / half.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    length = gradients.norm(dim=-1, keepdim=True)
    flat = length <= 1e-10
    normals = gradients / torch.where(flat, torch.ones_like(length), length)
    normals = torch.where((normals * to_eye).sum(-1, keepdim=True) < 0, -normals, normals)
    n_dot_l = torch.where(flat, torch.ones_like(length), (normals * to_light).sum(-1, keepdim=True).clamp_min(0))
    n_dot_h = (normals * half).sum(-1, keepdim=True).clamp_min(1e-12)
    specular = torch.where(flat, torch.zeros_like(length), n_dot_h ** lighting.shininess)
    return rgb * (lighting.ambient + lighting.diffuse * n_dot_l) + lighting.specular * specular


def random_samples(n=500, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rgb = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    gradients = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    gradients[:10] = 0.0  # flat regions
    view_dirs = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return rgb, gradients, view_dirs / view_dirs.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize("lighting", [
    Lighting(),
    Lighting(ambient=0.1, diffuse=0.5, specular=0.8, shininess=7.0, light_direction=(1.0, -2.0, 0.5), headlight=False),
    Lighting(light_direction=(0.0, 0.0, 1.0), headlight=False),
], ids=["headlight", "oblique light", "light along +z"])
def test_agrees_with_the_textbook_formula(lighting):
    lighting.light_direction = lighting.light_direction.double()
    rgb, gradients, view_dirs = random_samples()
    torch.testing.assert_close(shade(rgb, gradients, view_dirs, lighting),
                               reference_shade(rgb, gradients, view_dirs, lighting), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("length", [1e-25, 1e20, 1e30])
def test_a_light_direction_of_any_length_shades_as_a_unit_one(length):
    """Audit item 27.23 (same defect as clip normals and ray directions): a float32 light direction
    of length 1e20 overflowed its norm and darkened the image; 1e-25 was refused as zero."""
    rgb, gradients, view_dirs = (t.float() for t in random_samples())
    unit = Lighting(specular=0.5, light_direction=(0.3, -0.4, 0.5), headlight=False)
    scaled = Lighting(specular=0.5, light_direction=(0.3 * length, -0.4 * length, 0.5 * length), headlight=False)
    torch.testing.assert_close(shade(rgb, gradients, view_dirs, scaled), shade(rgb, gradients, view_dirs, unit),
                               atol=1e-5, rtol=0)  # float32 rounding of the scaled inputs, raised to shininess


def test_surface_facing_the_headlight_gets_every_term():
    lighting = Lighting(ambient=0.3, diffuse=0.7, specular=0.2, shininess=20.0)
    rgb = torch.tensor([[0.5, 0.25, 1.0]])
    view = torch.tensor([[0.0, 0.0, -1.0]])
    for gradient in ([0.0, 0.0, 3.0], [0.0, 0.0, -3.0]):  # two-sided: both orientations lit alike
        shaded = shade(rgb, torch.tensor([gradient]), view, lighting)
        torch.testing.assert_close(shaded, rgb * 1.0 + 0.2)


def test_grazing_surface_gets_ambient_only():
    lighting = Lighting(ambient=0.3, diffuse=0.7, specular=0.2)
    rgb = torch.ones(1, 3)
    shaded = shade(rgb, torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, -1.0]]), lighting)
    torch.testing.assert_close(shaded, torch.full((1, 3), 0.3))


def test_light_behind_the_surface_leaves_ambient():
    lighting = Lighting(ambient=0.25, diffuse=0.7, specular=0.5, light_direction=(0.0, 0.0, -1.0), headlight=False)
    # Seen from +z (view along −z), normal flipped to +z; the light shines from −z.
    shaded = shade(torch.ones(1, 3), torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.0, 0.0, -1.0]]), lighting)
    torch.testing.assert_close(shaded, torch.full((1, 3), 0.25))


def test_flat_region_keeps_ambient_plus_diffuse_and_no_highlight():
    lighting = Lighting(ambient=0.3, diffuse=0.7, specular=0.9)
    shaded = shade(torch.full((2, 3), 0.5), torch.zeros(2, 3), torch.tensor([[0.0, 0.0, -1.0]] * 2), lighting)
    torch.testing.assert_close(shaded, torch.full((2, 3), 0.5))


def test_shading_is_differentiable_in_gradients_and_coefficients():
    rgb, gradients, view_dirs = random_samples(12, seed=3)
    gradients = gradients[10:].clone().requires_grad_()  # skip the flat rows (a kink at zero)
    coefficients = torch.tensor([0.3, 0.6, 0.4, 9.0], dtype=torch.float64, requires_grad=True)
    direction = torch.tensor([0.3, 1.0, -0.4], dtype=torch.float64, requires_grad=True)

    def shaded(g, c, d):
        lighting = Lighting(ambient=c[0], diffuse=c[1], specular=c[2], shininess=c[3], light_direction=d,
                            headlight=False)
        return shade(rgb[10:], g, view_dirs[10:], lighting)

    assert torch.autograd.gradcheck(shaded, (gradients, coefficients, direction))


def test_a_given_light_direction_turns_the_headlight_off_as_set_lighting_does():
    direction = torch.tensor([0.3, 1.0, -0.4])
    assert Lighting().headlight is True
    assert Lighting(light_direction=direction).headlight is False
    assert VolumeRenderer().set_lighting(light_direction=direction).lighting.headlight is False
    assert Lighting(light_direction=direction, headlight=True).headlight is True


def test_a_learnable_light_direction_gets_a_gradient_with_the_default_headlight_setting():
    rgb, gradients, view_dirs = random_samples(40, seed=5)
    direction = torch.tensor([0.3, 1.0, -0.4], dtype=torch.float64, requires_grad=True)
    shade(rgb, gradients, view_dirs, Lighting(light_direction=direction)).sum().backward()
    assert direction.grad is not None and float(direction.grad.abs().sum()) > 0


@pytest.mark.parametrize("lighting", [Lighting(), Lighting(light_direction=(0, 0, 2)),
                                      Lighting(light_direction=(1, 2, 3), headlight=True),
                                      Lighting(ambient=0.0, specular=1.0, shininess=3.5, headlight=False)])
def test_to_dict_round_trips(lighting):
    assert Lighting(**lighting.to_dict()).to_dict() == lighting.to_dict()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(ambient=-0.1), ValueError, "ambient"),
    (dict(diffuse=float("nan")), ValueError, "diffuse"),
    (dict(specular="0.2"), TypeError, "specular"),
    (dict(ambient=True), TypeError, "ambient"),
    (dict(shininess=0.0), ValueError, "shininess"),
    (dict(shininess=float("inf")), ValueError, "shininess"),
    (dict(ambient=torch.tensor([0.1, 0.2], requires_grad=True)), ValueError, "ambient"),
    (dict(shininess=torch.tensor(float("nan"), requires_grad=True)), ValueError, "shininess"),
    (dict(light_direction=(0, 0, 0)), ValueError, "light_direction"),
    (dict(light_direction=(1, 2)), ValueError, "light_direction"),
    (dict(light_direction="up"), TypeError, "light_direction"),
    (dict(light_direction=(1, float("inf"), 0)), ValueError, "light_direction"),
    (dict(headlight="yes"), TypeError, "headlight"),
])
def test_bad_lighting_is_rejected_with_the_parameter_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Lighting(**kwargs)


@pytest.mark.parametrize("name, value", [("shininess", -30.0), ("shininess", 0.0), ("diffuse", -0.1),
                                         ("specular", float("nan"))])
def test_a_learnt_coefficient_an_optimiser_moved_out_of_range_is_refused_at_render_time(name, value):
    """The audit (helper 57): Lighting(shininess=0) is refused, but a learnt shininess stepped below
    0 rendered NaN gradients without a word."""
    learnt = torch.tensor(0.5 if name != "shininess" else 20.0, requires_grad=True)
    renderer = VolumeRenderer((8, 8, 8))
    renderer.lighting = Lighting(**{name: learnt})
    renderer.render(torch.rand(8, 8, 8), image_size=4).sum().backward()  # in range: renders
    with torch.no_grad():
        learnt.fill_(value)
    with pytest.raises(ValueError, match=f"learnt {name}"):
        renderer.render(torch.rand(8, 8, 8), image_size=4)
    renderer.render(torch.rand(8, 8, 8), image_size=4, use_lighting=False)  # unlit: the light is not read
