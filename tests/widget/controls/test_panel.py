"""ControlPanel: every control drives the view's traits, and the view drives the controls."""

import pytest

from pyvr_jupyter import ControlPanel, VolumeView, create_test_volume, viewer


def test_controls_drive_the_view(view, tmp_path, monkeypatch):
    panel = ControlPanel(view)
    panel.quality.value = 1.0
    panel.compositing.value = "mip"
    panel.fov.value = 30
    panel.use_lighting.value = False
    assert (view.step_size, view.compositing, view.fov, view.use_lighting) == (1.0, "mip", 30, False)
    panel.ambient.value = 0.6
    panel.headlight.value = False
    panel.light_azimuth.value = 90
    panel.light_elevation.value = 0
    assert view.lighting["ambient"] == 0.6 and view.lighting["headlight"] is False
    assert view.lighting["light_direction"] == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)
    assert view.renderer.lighting.ambient == 0.6
    panel.background.value = "#ff0000"
    assert view.background == [1.0, 0.0, 0.0]
    panel.image_size.value = 192
    assert (view.width, view.height) == (192, 144)  # keeps the aspect ratio (64 × 48)
    panel.filename.value = "shot.png"  # a bare name: the kernel's working folder, said in full
    monkeypatch.chdir(tmp_path)
    panel.save.click()
    assert (tmp_path / "shot.png").exists() and panel.status.value == f"saved {(tmp_path / 'shot.png').resolve()}"
    panel.save.click()
    assert panel.status.value.endswith("shot.png (replacing the file there)")


def test_view_changes_show_in_the_panel(view):
    panel = ControlPanel(view)
    view.step_size = 2.0
    view.lighting = dict(view.lighting, specular=0.9)
    view.background = [0.0, 0.0, 1.0]
    assert panel.quality.value == 2.0 and panel.specular.value == 0.9 and panel.background.value == "#0000ff"


def test_lighting_set_in_code_is_kept_and_a_slider_changes_only_its_own_setting(view):
    # The open panel wrote its own direction (and its sliders' clamped values) over whatever
    # lighting code or a link set: shininess 1000 became 256, a light along +x went back to (1, 1, 1).
    panel = ControlPanel(view)
    lighting = dict(view.lighting, light_direction=[1.0, 0.0, 0.0], headlight=False, shininess=1000.0, diffuse=2.0)
    view.lighting = lighting
    assert view.lighting == lighting
    assert view.renderer.lighting.light_direction.tolist() == [1.0, 0.0, 0.0]
    assert (panel.light_azimuth.value, panel.light_elevation.value) == (90.0, 0.0)  # the direction is shown
    panel.ambient.value = 0.5
    assert view.lighting == dict(lighting, ambient=0.5)


def test_an_image_size_the_view_refuses_is_not_applied(view):
    view.edit(width=128, height=1024)  # a tall view (a corner drag can make one)
    panel = ControlPanel(view)
    with pytest.warns(UserWarning, match="image size 1024"):
        panel.image_size.value = 1024  # 8192 pixels high: raised into the kernel from the browser
    assert (view.width, view.height) == (128, 1024) and panel.image_size.value == 128
    view.edit(width=48, height=1536)  # from code: the list does not follow the view's width
    with pytest.warns(UserWarning, match="image size 512"):
        panel.image_size.value = 512
    assert (view.width, view.height) == (48, 1536)  # the list's revert resized it to its old 128 (×4096)
    assert panel.image_size.value == 48


def test_light_controls_that_would_do_nothing_are_greyed_out(view):
    panel = ControlPanel(view)
    light = (panel.ambient, panel.diffuse, panel.specular, panel.shininess, panel.headlight)
    direction = (panel.light_azimuth, panel.light_elevation)
    panel.use_lighting.value, panel.headlight.value = True, True
    assert not any(c.disabled for c in light) and all(c.disabled for c in direction)  # a headlight follows the eye
    panel.headlight.value = False
    assert not any(c.disabled for c in light + direction)
    view.use_lighting = False  # from Python, through the link
    assert all(c.disabled for c in light + direction)


def test_reset_button_restores_the_camera(view):
    panel = ControlPanel(view)
    start = list(view.camera_position)
    view._messages.handle(view, {"type": "orbit", "dx": 50, "dy": 10}, [])
    panel.reset.click()
    assert view.camera_position == pytest.approx(start)


def test_viewer_lays_out_view_editor_and_panel():
    box = viewer(create_test_volume((16, 16, 16), "torus"), width=32, height=32)
    view, side = box.children
    assert isinstance(view, VolumeView)
    assert [type(child).__name__ for child in side.children] == ["LabelList", "TransferFunctionEditor", "ControlPanel"]
    assert side.children[0].layout.display == "none"  # no labels: no list
    view.close()


def test_the_panel_toggles_the_overlays(view):
    """Audit item 27.31: the panel had no overlay toggles."""
    panel = ControlPanel(view)
    assert not any(box.value for box in panel.overlays.values())
    panel.overlays["show_axes"].value = True
    panel.overlays["show_box"].value = True
    assert view.show_axes and view.show_box and not view.show_scale
    view.show_colorbar = True
    assert panel.overlays["show_colorbar"].value
    panel.close()


def test_overlays_can_be_asked_for_when_the_view_is_made(volume):
    """Audit item 27.31: VolumeView(vol, show_axes=True, units="mm") raised TypeError."""
    view = VolumeView(volume, width=32, height=32, show_axes=True, show_box=True, show_scale=True,
                      show_colorbar=True, units="mm")
    assert (view.show_axes, view.show_box, view.show_scale, view.show_colorbar, view.units) == (True,) * 4 + ("mm",)
    assert ControlPanel(view).overlays["show_scale"].value
    view.close()


def test_the_compositing_menu_names_every_strategy_in_words(view):
    """Helper 58's walk-through: "vectorized / early_termination / sequential" beside mip and xray
    read as a list of unrelated things; they are three ways to the same emission–absorption picture."""
    from pyvr_jupyter.torch_renderer import COMPOSITING_STRATEGIES
    from pyvr_jupyter.widget.controls.panel import STRATEGY_LABELS

    panel = ControlPanel(view)
    assert set(STRATEGY_LABELS) == set(COMPOSITING_STRATEGIES)
    assert [value for _, value in panel.compositing.options] == list(COMPOSITING_STRATEGIES)
    assert sum(label.startswith("emission–absorption") for label, _ in panel.compositing.options) == 3
    assert "(the default)" in panel.compositing.tooltip  # what the chosen one does, in a sentence
    panel.compositing.label = "X-ray"  # the browser picks by label
    assert view.compositing == "xray"
    assert panel.compositing.tooltip.startswith("X-ray attenuation")
    view.compositing = "mip"
    assert panel.compositing.tooltip == "maximum intensity projection"
    panel.close()


def test_the_light_sliders_and_the_clip_controls_are_folded_until_opened(view):
    """Helper 58's walk-through: unfolded, the column was about 950 px tall and the clip controls sat
    below the fold, the view scrolled away while they were used."""
    import ipywidgets as widgets

    panel = ControlPanel(view)
    sections = [child for child in panel.children if isinstance(child, widgets.Accordion)]
    assert [section.selected_index for section in sections] == [None, None]
    light, clip = (section.children[0] for section in sections)
    assert {panel.ambient, panel.diffuse, panel.specular, panel.shininess, panel.light_azimuth,
            panel.light_elevation} == set(light.children)
    assert clip is panel.clip and panel.use_lighting not in light.children  # the switch stays in sight
    panel.close()
    assert panel.ambient.comm is None and light.comm is None
