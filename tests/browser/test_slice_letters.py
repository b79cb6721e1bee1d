"""A real scan in JupyterLab is shown head-up with its orientation letters (audit item 27.30):
viewer(load_volume(nifti), slices=True) draws L/R, A/P, S/I at the slices' edges (neurological),
the three slices switch to radiological together, and the 3-D view has superior up."""

import os
import shutil

import pytest

from jupyter_harness import lab_page, run_cell, show_view, write_notebook

SOURCE = """
import importlib.util, os
import nibabel
from pyvr_jupyter import load_volume, viewer
spec = importlib.util.find_spec("nilearn")  # the MNI152 template in nilearn's wheel, else nibabel's EPI
mni = spec and os.path.join(os.path.dirname(spec.origin), "datasets", "data",
                            "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
path = mni if mni and os.path.exists(mni) else os.path.join(os.path.dirname(nibabel.__file__), "tests", "data",
                                                            "example4d.nii.gz")
scan = load_volume(path, volume_index=0) if "example4d" in path else load_volume(path)
box = viewer(scan, slices=True, width=256, height=256, colormap="gray", slice_size=200)
print(scan.orientation, box.view.camera_up)
box
"""
NEUROLOGICAL = {"z": "left:L right:R top:A bottom:P", "y": "left:L right:R top:S bottom:I",
                "x": "left:P right:A top:S bottom:I"}
RADIOLOGICAL = {"z": "left:R right:L top:A bottom:P", "y": "left:R right:L top:S bottom:I",
                "x": "left:A right:P top:S bottom:I"}


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    root = tmp_path_factory.mktemp("letters")
    write_notebook(root, "letters.ipynb", [SOURCE, "box.slices[0].convention = 'radiological'"])
    with lab_page(browser, root, "letters.ipynb", height=1700) as page:
        show_view(page, 0)
        yield page


def letters(page, axis):
    return page.evaluate(f"""() => document.querySelector(".pyvr-slice[data-axis='{axis}'] canvas")
                             ?.dataset.letters || "" """)


def wait_letters(page, expected):
    for axis, text in expected.items():
        page.wait_for_function(f"""() => document.querySelector(".pyvr-slice[data-axis='{axis}'] canvas")
                                   ?.dataset.letters === {text!r}""", polling="raf", timeout=60_000)


def keep(page, name, tmp_path):
    page.wait_for_timeout(1500)  # the full-quality 3-D frame
    output = page.locator(".jp-OutputArea-output").filter(has=page.locator("canvas.pyvr-canvas")).first
    path = tmp_path / name
    output.screenshot(path=str(path))
    folder = os.environ.get("PYVR_SCREENSHOT_DIR")  # to look at it: PYVR_SCREENSHOT_DIR=/some/dir pytest ...
    if folder:
        shutil.copy(path, os.path.join(folder, path.name))
    return path


def test_the_slices_carry_neurological_letters_and_the_view_is_head_up(page, tmp_path):
    wait_letters(page, NEUROLOGICAL)
    assert "RAS [0.0, 0.0, 1.0]" in page.locator(".jp-OutputArea-output").first.inner_text()
    title = page.locator(".pyvr-slice[data-axis='z'] .pyvr-slice-title")
    assert "neurological" in title.inner_text() and "right on the right" in title.get_attribute("title")
    assert keep(page, "letters_neurological.png", tmp_path).stat().st_size > 10_000
    assert not page.errors, page.errors


def test_the_three_slices_switch_to_radiological_together(page, tmp_path):
    run_cell(page, 1)
    wait_letters(page, RADIOLOGICAL)
    assert keep(page, "letters_radiological.png", tmp_path).stat().st_size > 10_000
    assert not page.errors, page.errors
