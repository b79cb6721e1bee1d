"""The command-line demo renders, writes a PNG and prints its figures."""

from PIL import Image

from pyvr_jupyter import demo


def test_demo_writes_a_png_and_prints_timings(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert demo.main(["--size", "32", "--image", "48", "64", "--step", "1.0", "--output", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (64, 48)
    assert max(image.getextrema()[0]) > 50  # the torus is visible
    printed = capsys.readouterr().out
    for field in ("total", "samples/ms", "48×64", "samples per ray", "32,768 voxels", "fused backend"):
        assert field in printed


def test_demo_renders_with_the_backend_asked_for(tmp_path, capsys):
    assert demo.main(["--size", "24", "--image", "32", "--backend", "torch", "--output", str(tmp_path / "t.png")]) == 0
    assert "torch backend" in capsys.readouterr().out


def test_demo_writes_a_turntable_gif(tmp_path, capsys):
    out = tmp_path / "spin.gif"
    assert demo.main(["--size", "24", "--image", "32", "40", "--step", "1.0", "--frames", "6",
                      "--turntable", str(out)]) == 0
    movie = Image.open(out)
    assert movie.n_frames == 6 and movie.size == (40, 32)
    printed = capsys.readouterr().out
    assert "6 frames of 32×40 px" in printed and "fused backend" in printed
