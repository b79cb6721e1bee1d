"""``RenderSettings``: a render's options, checked once when the record is made (and again by
``replace``), before any volume is read."""

import dataclasses
import inspect

import numpy as np
import pytest

from pyvr_jupyter.torch_renderer import LabelMap, VolumeRenderer
from pyvr_jupyter.torch_renderer.render_settings import RenderSettings


def test_defaults_are_the_renderers():
    settings = RenderSettings()
    assert (settings.compositing, settings.use_lighting, settings.level, settings.termination) == \
        ("vectorized", True, 0, None)


@pytest.mark.parametrize("options, error, words", [
    (dict(use_color=1), TypeError, "use_color must be True or False"),
    (dict(jitter="yes"), TypeError, "jitter must be True or False"),
    (dict(compositing="fancy"), ValueError, "unknown compositing 'fancy'"),
    (dict(label_mode="glow"), ValueError, "unknown label_mode 'glow'"),
    (dict(should_stop=True), TypeError, "should_stop must be a function"),
    (dict(termination=0.9), ValueError, "termination"),
    (dict(labels=np.full((2, 2, 2), 1.5)), (TypeError, ValueError), "label"),
])
def test_bad_options_are_named_when_made(options, error, words):
    with pytest.raises(error, match=words):
        RenderSettings(**options)


def test_labels_become_a_label_map_and_replace_checks_again():
    ids = np.zeros((4, 4, 4), np.int32)
    ids[1:3, 1:3, 1:3] = 7
    settings = RenderSettings(labels=ids, termination=np.float32(0.25))
    assert isinstance(settings.labels, LabelMap) and settings.labels.ids.tolist() == [0, 7]
    assert type(settings.termination) is float and settings.termination == 0.25
    changed = settings.replace(value_range=(0.0, 2.0))
    assert changed.value_range == (0.0, 2.0) and changed.labels is settings.labels and settings.value_range is None
    with pytest.raises(ValueError, match="unknown compositing"):
        settings.replace(compositing="nope")


def test_settings_are_taken_by_name_from_a_render_methods_arguments():
    """``render`` and ``render_rgba`` take every setting as a parameter of the same name, and
    ``render_rays`` those a ray table uses: ``RenderSettings.of(locals())`` drops none."""
    fields = {field.name for field in dataclasses.fields(RenderSettings)}
    for method in (VolumeRenderer.render, VolumeRenderer.render_rgba):
        assert fields <= set(inspect.signature(method).parameters), method.__name__
    image_only = {"level", "labels", "label_mode", "termination", "jitter"}  # rays have no image, no pyramid
    assert fields - image_only <= set(inspect.signature(VolumeRenderer.render_rays).parameters)
    settings = RenderSettings.of(dict(compositing="mip", camera=object(), step_size=0.5))
    assert (settings.compositing, settings.step_size, settings.level) == ("mip", 0.5, 0)
    with pytest.raises(TypeError):
        RenderSettings(10)  # by name only: a positional order would have to match three methods'
