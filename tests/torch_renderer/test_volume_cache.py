"""Specification of volume_cache: what is computed once per volume, and when it is computed again."""

import warnings

import numpy as np
import pytest
import torch

from helpers import assert_close
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.levels import half_resolution_tensor
from pyvr_jupyter.torch_renderer.volume_cache import OCCUPANCIES_KEPT, kernel_dtype_of, volume_key


@pytest.mark.parametrize("edit", ["flip", "one ulp", "read-only copy", "rows flipped in each slice", "two voxels swapped"])
def test_numpy_volume_fingerprint_sees_every_edit(edit):
    volume = create_test_volume((40, 41, 43), "complex", backend="numpy")
    before = volume_key(volume, torch.device("cpu"))
    if edit == "flip":  # the same values elsewhere: a plain sum would not change
        volume[:] = volume[::-1].copy()
    elif edit == "rows flipped in each slice":  # a permutation inside each of 64 partial sums' pieces
        volume[:] = volume[:, ::-1].copy()
    elif edit == "two voxels swapped":
        a, b = (20, 20, 20), (20, 20, 21)
        assert volume[a] != volume[b]
        volume[a], volume[b] = volume[b], volume[a]
    elif edit == "one ulp":
        volume[20, 20, 20] = np.nextafter(volume[20, 20, 20], np.float32(2))
    else:  # equal content, another array (read-only, as memory-mapped files are): no warning, same checksum
        volume = volume.copy()
        volume.setflags(write=False)
    after = volume_key(volume, torch.device("cpu"))
    assert (after[5] == before[5]) == (edit == "read-only copy")


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_an_in_place_permutation_of_a_numpy_volume_renders_anew(backend, dtype):
    # Audit item 2: r.render(v); v[:] = v[:, ::-1]; r.render(v) returned the old picture, the
    # 64 partial sums of the checksum being blind to values moved within a piece.
    volume = (create_test_volume((64, 32, 32), "complex", backend="numpy") * 1000).astype(dtype)
    volume[:, :8] = 0  # not symmetric under the flip
    camera = Camera.for_volume(volume.shape, azimuth=30, elevation=20)
    renderer = VolumeRenderer(volume.shape, backend=backend)
    before = renderer.render(volume, camera, image_size=24)
    volume[:] = volume[:, ::-1].copy()
    shown = renderer.render(volume, camera, image_size=24)
    fresh = VolumeRenderer(volume.shape, backend=backend).render(volume, camera, image_size=24)
    assert not torch.equal(before, fresh)
    assert torch.equal(shown, fresh)


@pytest.mark.parametrize("layout", ["non-contiguous", "unaligned", "big-endian", "empty tail"])
def test_the_fingerprint_reads_any_layout(layout):
    base = create_test_volume((20, 21, 22), "complex", backend="numpy")
    if layout == "non-contiguous":
        volume = np.asfortranarray(base)
    elif layout == "unaligned":
        buffer = np.zeros(base.nbytes + 1, np.uint8)
        volume = buffer[1:].view(np.float32).reshape(base.shape)
        volume[:] = base
    elif layout == "big-endian":
        volume = base.astype(">f4")
    else:
        volume = base[:, :, :1].copy()
    before = volume_key(volume, torch.device("cpu"))
    assert volume_key(volume, torch.device("cpu")) == before
    volume[0, 0, 0] += 1
    assert volume_key(volume, torch.device("cpu")) != before


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_a_new_volume_at_a_freed_volumes_address_is_not_taken_for_it(backend):
    # Audit finding: uint8 volumes are converted and the original freed; a new tensor allocated
    # at the same address with the same shape used to hit the cache and show the old volume.
    generator = torch.Generator().manual_seed(0)
    renderer = VolumeRenderer((16, 16, 16), backend=backend)
    camera = Camera.for_volume((16, 16, 16))
    for _ in range(20):
        first = torch.randint(0, 255, (16,) * 3, dtype=torch.uint8, generator=generator)
        renderer.render(first, camera, image_size=8)
        del first
        second = torch.randint(0, 255, (16,) * 3, dtype=torch.uint8, generator=generator)
        shown = renderer.render(second, camera, image_size=8)
        fresh = VolumeRenderer((16, 16, 16), backend=backend).render(second, camera, image_size=8)
        assert torch.equal(shown, fresh)


def test_the_cache_is_kept_for_the_same_unchanged_volume():
    volume = create_test_volume((16, 16, 16), "sphere")
    renderer = VolumeRenderer(volume.shape)
    renderer.render(volume, image_size=8)
    state = renderer._state
    renderer.render(volume, image_size=8)
    assert renderer._state is state
    volume.add_(0.0)  # an in-place edit bumps the tensor's version
    renderer.render(volume, image_size=8)
    assert renderer._state is not state


def test_changing_the_spacing_recomputes_the_gradient_grid():
    volume = create_test_volume((16, 16, 16), "sphere")
    camera = Camera.for_volume((16, 16, 16), spacing=(1.0, 1.0, 3.0))
    renderer = VolumeRenderer(volume.shape)
    renderer.render(volume, camera, image_size=12)  # caches a grid made with spacing (1, 1, 1)
    renderer.spacing = (1.0, 1.0, 3.0)
    shown = renderer.render(volume, camera, image_size=12)
    fresh = VolumeRenderer(volume.shape, spacing=(1.0, 1.0, 3.0)).render(volume, camera, image_size=12)
    assert torch.equal(shown, fresh)


# ---- the shared state: one copy per volume, its levels, its grids ------------------------------
from pyvr_jupyter.torch_renderer import volume_cache  # noqa: E402
from pyvr_jupyter.torch_renderer.volume_cache import shared_state  # noqa: E402


def test_every_renderer_of_one_array_shares_its_state():
    volume = create_test_volume((16, 18, 20), "torus", backend="numpy")
    first, second = VolumeRenderer(volume.shape), VolumeRenderer(volume.shape)
    first.render(volume, image_size=8)
    second.render(volume, image_size=8)
    assert first._state is second._state is shared_state(volume)
    assert shared_state(volume.copy()) is not first._state  # another array: another state


def test_a_state_is_freed_with_its_last_holder():
    import gc
    import weakref

    volume = create_test_volume((40, 40, 40), "torus", backend="numpy")
    state = shared_state(volume)
    state.level(1)
    alive = weakref.ref(state)
    del state
    gc.collect()
    assert alive() is None and not any(key[0] == id(volume) for key in volume_cache._shared)


@pytest.mark.parametrize("dtype, kernel_dtype, copied", [
    (np.uint8, np.uint8, False), (np.uint16, np.uint16, False), (np.float32, np.float32, False),
    (np.float64, np.float64, False), (np.int8, np.uint8, True), (np.int16, np.int16, False),
    (np.float16, np.float32, True), (np.int32, np.float32, True)])
def test_the_kernel_reads_the_values_in_their_own_dtype(dtype, kernel_dtype, copied):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    low, high = (max(info.min, -2**24), min(info.max, 2**24)) if info else (0, 0)  # float32 is exact to 2^24
    values = (rng.integers(low, high, (6, 7, 8)) if info else rng.random((6, 7, 8)) * 100).astype(dtype)
    state = shared_state(values)
    grid, offset = state.level(0).kernel_values()
    assert grid.dtype == kernel_dtype and grid.shape == (6, 7, 8, 1)
    assert np.shares_memory(grid, values) != copied
    np.testing.assert_array_equal(grid[..., 0].astype(np.float64) - offset, values.astype(np.float64))  # exact
    assert (state.nbytes()["kernel_grid"] > 0) == copied


def test_levels_span_the_same_box_and_stop_at_the_coarsest():
    volume = np.zeros((40, 100, 70), np.uint16)
    state = shared_state(volume)
    assert state.max_level == 2  # 100 → 50 → 25 ≤ 32
    coarse = state.level(2)
    assert coarse.shape == (10, 25, 18)
    for axis, (n, m) in enumerate(zip(volume.shape[::-1], coarse.shape[::-1])):
        assert coarse.spacing_scale[axis] == pytest.approx((n - 1) / (m - 1))
    with pytest.raises(ValueError, match=r"level must be in \[0, 2\].*\(40, 100, 70\)"):
        state.level(3)
    assert state.levels_made == 3 and state.nbytes()["level"] == (20 * 50 * 35 + 10 * 25 * 18) * 4


def render_as_level_zero(volume, renderer: VolumeRenderer, camera, **options):
    """``volume``'s level 1 made by the differentiable filter and rendered as a level 0 of its own:
    its spacing is the level's (the same box), everything else as ``renderer``'s."""
    half = half_resolution_tensor(torch.as_tensor(volume))
    scale = [(n - 1) / (m - 1) for n, m in zip(volume.shape[::-1], half.shape[::-1])]  # x, y, z
    other = VolumeRenderer(half.shape, spacing=[s * float(r) for s, r in zip(scale, renderer.spacing)],
                           backend=renderer.backend)
    rgba = other.render_rgba(half, camera, **options)
    renderer.last_stats = other.last_stats  # the caller reads which backend rendered
    return rgba


@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("shape", [(2, 40, 40), (40, 2, 36)])
def test_a_volume_with_a_side_of_two_renders_at_level_one(backend, shape):
    """Audit item 27.11: a side of 2 stays 2 at level 1 (its spacing unchanged); it renders as its
    level made by the whole-tensor filter does."""
    middle = tuple(slice(19, 21) if n == 2 else slice(0, n) for n in shape)
    volume = np.asarray(create_test_volume((40, 40, 40), "complex"))[middle].copy()
    renderer = VolumeRenderer(volume.shape, spacing=(1.0, 1.5, 0.8), backend=backend)
    camera = Camera.for_volume(volume.shape, spacing=(1.0, 1.5, 0.8)).orbit(25.0, 35.0)
    options = dict(image_size=(20, 18), step_size=0.4, value_range=(0.0, 1.0))
    coarse = renderer.render_rgba(volume, camera, level=1, **options)
    assert shared_state(volume).level(1).shape == tuple(max(2, (n + 1) // 2) for n in shape)  # a side of 2 stays 2
    assert float(coarse[..., 3].max()) > 0.05
    assert_close(coarse, render_as_level_zero(volume, renderer, camera, **options), atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "fused+adjoint"])
@pytest.mark.parametrize("shape", [(2, 40, 40), (34, 40, 36)])
def test_a_learnt_volume_gets_its_gradient_through_level_one(backend, shape):
    """Audit item 27.11: at level 1 a volume that requires grad gets the gradient of its level 1
    (the differentiable filter), the one rendering that filter's output at level 0 gives."""
    if backend == "fused+adjoint":
        fused.wait_until_compiled(np.float64, adjoint=True)
    base = torch.as_tensor(create_test_volume((40, 40, 40), "complex")).double()[tuple(slice(0, n) for n in shape)]
    camera = Camera.for_volume(shape).orbit(40.0, 20.0)
    options = dict(image_size=(14, 12), step_size=0.5, value_range=(0.0, 1.0))
    weights = torch.rand(14, 12, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = []
    for through_level in (True, False):
        learnt = base.clone().requires_grad_(True)
        renderer = VolumeRenderer(shape, backend="torch" if backend == "torch" else "auto")
        if through_level:
            rgba = renderer.render_rgba(learnt, camera, level=1, **options)
        else:
            rgba = render_as_level_zero(learnt, renderer, camera, **options)
        assert renderer.last_stats["backend"] == backend
        (rgba * weights).sum().backward()
        grads.append(learnt.grad)
    assert float(grads[0].abs().sum()) > 1e-3
    assert_close(grads[0], grads[1], atol=1e-6 * float(grads[1].abs().max()))


def test_a_constant_volume_gets_a_usable_range_and_nan_is_refused():
    with pytest.warns(UserWarning, match="every voxel holds 7.*transparent.*value_range") as caught:
        assert shared_state(np.full((4, 4, 4), 7, np.int16)).value_range == (7.0, 8.0)
    assert caught[0].filename == __file__  # the user's line: each cell of a notebook gets its own warning
    bad = np.zeros((4, 4, 4), np.float32)
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        shared_state(bad).value_range


def test_empty_space_is_made_once_per_value_window_and_opacity_table():
    """Orbiting re-renders with the same blocks: a frame pays nothing for them (issue 23's fixed
    cost); a new opacity table or value window makes them anew, and the earlier answer stays for a
    view that still draws with it."""
    volume = create_test_volume((40, 40, 40), "torus")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    state = shared_state(volume, torch.device("cpu"))  # held here: the registry keeps states weakly
    level = state.level(0)

    def answers_after(points, camera=Camera.for_volume(volume.shape)):
        renderer.opacity_tf.set_control_points(points)
        renderer.render(volume, camera, image_size=(16, 16))
        return [kept[0] for kept in level._occupancy.values()]

    ramp, wide = [(0.0, 0.0), (0.5, 0.0), (1.0, 0.5)], [(0.0, 0.0), (1.0, 0.5)]
    [first] = answers_after(ramp)
    [again] = answers_after(ramp, Camera.for_volume(volume.shape).orbit(30.0, 10.0))
    assert again is first
    clip_box, padded, reach = first
    assert padded.dtype == torch.uint8 and clip_box is not None
    assert reach.shape == padded.shape and bool((reach[padded > 0] == 0).all()) and bool((reach[padded == 0] > 0).all())
    kept_first, second = answers_after(wide)
    assert kept_first is first and int(second[1].sum()) > int(padded.sum())
    assert answers_after(ramp)[-1] is first  # two views drawing in turns do not undo each other's
    for index in range(OCCUPANCIES_KEPT + 1):
        answers_after([(0.0, 0.0), (0.1 + 0.1 * index, 0.0), (1.0, 0.5)])
    assert len(level._occupancy) == OCCUPANCIES_KEPT and all(a is not first for a in answers_after(wide))


def test_only_the_volume_itself_is_shaded_from_a_packed_grid(monkeypatch):
    """Coarser levels serve previews and first pictures: shaded from their values (the gradient
    made in the kernel), so a first preview builds no 16-byte grid; the image is the same."""
    volume = create_test_volume((40, 48, 56), "complex", backend="numpy")
    state = shared_state(volume)
    assert state.level(0).uses_packed_grid() and not state.level(1).uses_packed_grid()
    renderer = VolumeRenderer(volume.shape, backend="fused")
    camera = Camera.for_volume(volume.shape, azimuth=30.0, elevation=20.0)
    preview = renderer.render(volume, camera, image_size=24, level=1)
    assert state.level(1).nbytes()["packed_grid"] == 0
    renderer.render(volume, camera, image_size=24)
    assert state.level(0).nbytes()["packed_grid"] > 0
    # the packed grid's stored gradient and the kernel's own are the same central differences
    monkeypatch.setattr(state.level(1), "uses_packed_grid", lambda: True)
    assert_close(VolumeRenderer(volume.shape, backend="fused").render(volume, camera, image_size=24, level=1), preview,
                 atol=2e-5)
    assert state.level(1).nbytes()["packed_grid"] > 0  # (the comparison did take the packed grid)


def test_an_array_marked_value_grid_only_is_never_packed_and_renders_the_same():
    """A region of a lazy volume is drawn for a while and replaced: its state makes the shading
    gradient from the values instead of packing a 16-byte grid (``value_grid_only``)."""
    volume = create_test_volume((40, 48, 56), "complex", backend="numpy")
    region = volume_cache.value_grid_only(volume.copy())
    assert shared_state(volume).level(0).uses_packed_grid() and not shared_state(region).level(0).uses_packed_grid()
    camera = Camera.for_volume(volume.shape, azimuth=30.0, elevation=20.0)
    renderers = [VolumeRenderer(volume.shape, backend="fused") for _ in range(2)]  # each keeps its state
    packed = renderers[0].render(volume, camera, image_size=24)
    from_values = renderers[1].render(region, camera, image_size=24)
    assert shared_state(region).level(0).nbytes()["packed_grid"] == 0
    assert shared_state(volume).level(0).nbytes()["packed_grid"] > 0
    assert_close(from_values, packed, atol=2e-5)


COLLECTION_INSIDE_SHARED_STATE = """
import gc
import numpy as np
from pyvr_jupyter.torch_renderer import volume_cache

old = volume_cache.shared_state(np.zeros((4, 4, 4), np.float32))
old.cycle = old  # only the garbage collector frees it: its weak reference's callback runs then
del old

class Collecting(volume_cache.VolumeState):
    def __init__(self, *args):
        gc.collect()  # a collection started by an allocation while shared_state holds its lock
        super().__init__(*args)

volume_cache.VolumeState = Collecting
volume_cache.shared_state(np.ones((4, 4, 4), np.float32))
print("done")
"""


def test_a_collection_inside_shared_state_does_not_deadlock_on_its_lock():
    """CI hung here once: the collector ran a dead state's callback, which takes the sharing lock,
    on the thread that held it inside ``shared_state`` (a screenshot in test_view_labels.py)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", COLLECTION_INSIDE_SHARED_STATE], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr[-2000:]


def test_a_key_taken_before_an_edit_does_not_replace_the_state_made_after_it(monkeypatch):
    """A render thread hashes the array, the user edits it and renders (a new state); the render
    thread must then get that state, not register its older key over it (the state's caches,
    made from the edited values, would carry the old bytes' key, and an undo would find them)."""
    import threading

    volume = create_test_volume((24, 24, 24), "torus", backend="numpy")
    original = shared_state(volume)
    real_key, hashed, go_on = volume_cache.volume_key, threading.Event(), threading.Event()

    def key_then_wait(array, device):
        key = real_key(array, device)
        if threading.current_thread().name == "render":
            hashed.set()
            go_on.wait(10)
        return key

    monkeypatch.setattr(volume_cache, "volume_key", key_then_wait)
    seen = {}
    render = threading.Thread(target=lambda: seen.setdefault("state", shared_state(volume)), name="render")
    render.start()
    assert hashed.wait(10)
    volume[12, 12, 12] += 1.0  # edited in place while the render thread holds its key
    edited = shared_state(volume)
    go_on.set()
    render.join(10)
    assert edited is not original and seen["state"] is edited and shared_state(volume) is edited
    volume[12, 12, 12] -= 1.0  # undone: the old bytes get a state of their own, not the edited values'
    undone = shared_state(volume)
    assert undone is not edited and undone.key == original.key


def test_the_kernels_grid_dtype_of_a_volume():
    assert kernel_dtype_of(np.zeros(2, np.int8)) == np.uint8  # read with an offset of 128
    assert kernel_dtype_of(np.zeros(2, np.int16)) == np.int16
    assert kernel_dtype_of(np.zeros(2, np.float16)) == np.float32  # a float32 copy
    assert kernel_dtype_of(torch.zeros(2, dtype=torch.bfloat16)) == np.float32


@pytest.mark.parametrize("dtype, offset", [(np.uint32, 4_000_000_000), (np.int32, -2_000_000_000), (np.int64, 10**9)])
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_wide_integers_that_float32_rounds_are_named_in_a_warning(dtype, offset, backend):
    """An audit: a uint32 volume offset by 4e9 kept 4 of its 124 levels in the float32 copy the
    renderer reads, silently; integers float32 holds exactly render without a warning."""
    levels = (np.arange(4 * 5 * 6) % 124).reshape(4, 5, 6) * 8
    camera = Camera.for_volume((4, 5, 6))
    renderer = VolumeRenderer((4, 5, 6), backend=backend)
    with pytest.warns(UserWarning, match=rf"{np.dtype(dtype)} values beyond 2\*\*24 .* float32, rounded to steps of"):
        renderer.render((levels + offset).astype(dtype), camera, image_size=8, value_range=(offset, offset + 1000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        renderer.render((levels + 2**24 - 1000).astype(dtype), camera, image_size=8)


@pytest.mark.parametrize("values, match", [
    ([1e39, 2e39], r"span \[1e\+39, 2e\+39\], too wide for float32"),  # it said "too narrow" (inf − inf is NaN)
    ([2.0**40, 2.0**40 + 1], "too narrow for its magnitude"),
])
def test_a_default_value_range_float32_cannot_map_says_why(values, match):
    volume = np.array(values * 4, np.float64).reshape(2, 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy overflow warning on the way
        with pytest.raises(ValueError, match=match):
            VolumeRenderer((2, 2, 2)).render(volume, image_size=8)
