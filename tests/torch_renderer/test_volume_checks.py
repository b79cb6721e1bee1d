"""Volume checks (``_volume_checks``): the kinds of array refused with a TypeError naming the
parameter, the bytes a volume will need counted and refused before anything is allocated, NaN
and paths given as volumes pointed to what to do."""

import math
import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import _volume_checks
from pyvr_jupyter.torch_renderer._volume_checks import as_volume_tensor, check_volume_array, check_volume_size

VOLUME = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("dtype, expected", [(">f4", torch.float32), (">i2", torch.float32), ("<u4", torch.float32),
                                             (">f8", torch.float64), (np.longdouble, torch.float64),
                                             (np.float16, torch.float32)])
def test_every_real_numpy_dtype_and_byte_order_converts(dtype, expected):
    tensor = as_volume_tensor(VOLUME.astype(dtype))
    assert tensor.dtype == expected
    assert torch.equal(tensor, torch.from_numpy(VOLUME).to(expected))


@pytest.mark.parametrize("make, match", [
    (lambda: torch.empty(2, 3, 4, device="meta"), "'meta' tensor"),
    (lambda: torch.quantize_per_tensor(torch.rand(2, 3, 4), 0.1, 0, torch.quint8), "quantized"),
    (lambda: torch.rand(2, 3, 4).to_sparse(), "dense"),
    (lambda: torch.zeros(2, 3, 4, dtype=torch.bool), "real numbers.*a mask\\? pass it as 0/1 bytes"),
    (lambda: torch.zeros(2, 3, 4, dtype=torch.complex64), "real numbers"),
    (lambda: np.zeros((2, 3, 4), dtype=object), "real numbers"),
    (lambda: np.zeros((2, 3, 4), dtype="m8[s]"), "real numbers, got dtype timedelta64"),  # audit item 27.26
    (lambda: np.zeros((2, 3, 4), dtype="M8[s]"), "real numbers, got dtype datetime64"),
    (lambda: np.zeros((2, 3, 4), dtype=np.bool_), "real numbers.*mask.view\\(numpy.uint8\\)"),
    (lambda: np.zeros((2, 3, 4), dtype=np.complex64), "real numbers"),
    (lambda: [[[0.0]]], "numpy array or torch tensor"),
])
def test_volumes_of_the_wrong_kind_raise_type_errors_naming_volume(make, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates quantized tensors; users still have them
        volume = make()
    with pytest.raises(TypeError, match=match) as raised:
        as_volume_tensor(volume)
    assert "volume" in str(raised.value)


def test_a_volume_with_nan_says_how_many_voxels_and_how_to_replace_them():
    """Helper 65: masked scans often hold NaN outside the mask; the error said neither how many
    nor what to do."""
    volume = np.zeros((4, 5, 6), np.float32)
    volume[0, 0, :3] = [np.nan, np.inf, -np.inf]
    for given in (volume, torch.from_numpy(volume)):
        with pytest.raises(ValueError, match=r"volume contains NaN or Inf values \(3 of 120 voxels\); .*np\.nan_to_num"):
            as_volume_tensor(given)


def test_a_path_given_as_the_volume_is_pointed_to_load_volume(tmp_path):
    for given in ("brain.nii.gz", tmp_path / "brain.nii.gz"):
        with pytest.raises(TypeError, match=r"got (str|\w*Path); to read a file, volume = load_volume\(path\)"):
            check_volume_array(given)
    with pytest.raises(TypeError, match=r"got list$"):
        check_volume_array([1, 2, 3])


def test_a_4d_volume_is_pointed_to_time_series_and_channels():
    """Before: 'must be 3-D' alone, for what is most often a time series or a multichannel volume."""
    with pytest.raises(ValueError, match=r"volume must be 3-D \(D, H, W\), got shape \(3, 4, 4, 4\); a 4-D array is a "
                                         r"time series .*TimeSeries.*channel_axis=0"):
        check_volume_array(np.zeros((3, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(4, 4\)$"):  # no hint where it would not help
        check_volume_array(np.zeros((4, 4), np.float32))


def test_volume_size_is_checked_before_allocating_naming_shape_dtype_need_and_limit():
    huge = np.broadcast_to(np.float32(0), (4096, 4096, 4096))  # zero strides: 256 GiB as float32
    with pytest.raises(ValueError, match=r"volume of shape \(4096, 4096, 4096\) and dtype float32 would need "
                                         r"29[0-9] GiB.*MAX_VOLUME_BYTES \(4 GiB\)"):
        check_volume_array(huge)
    # The PyTorch stages copy the whole volume to float32: checked as that (1 + 4 bytes per voxel).
    with pytest.raises(ValueError, match="with a float copy.*MAX_VOLUME_BYTES"):
        as_volume_tensor(torch.zeros(1, dtype=torch.uint8).expand(1024, 1024, 1024))
    check_volume_array(np.broadcast_to(np.uint8(0), (1024, 1024, 1024)))  # the kernel reads it in place: 1.6 GiB


@pytest.mark.parametrize("shape, dtype, per_voxel", [
    ((512, 1024, 1024), np.uint16, 2.6),  # a 1 GiB stack: read in place, levels
    ((400, 512, 512), np.int16, 2.6),  # a CT: read in place too
    ((400, 512, 512), np.int32, 8.6),  # other dtypes: a float32 copy
    ((400, 512, 512), ">u2", 6.6),  # big-endian: the kernels read native order, so a float32 copy
])
def test_large_volumes_are_counted_at_their_compact_cost(shape, dtype, per_voxel):
    voxels = np.prod(shape)
    # no packed grid: only a volume of at most 2^24 voxels has one, not its levels
    assert per_voxel * voxels <= check_volume_size(shape, dtype) <= (per_voxel + 0.01) * voxels


def test_a_small_volume_is_counted_with_its_packed_grid():
    assert check_volume_size((256, 256, 256), np.float32) == math.ceil(256 ** 3 * (4 + 0.6 + 20))  # array, levels, packed


def test_the_size_model_follows_the_volume_cache():
    from pyvr_jupyter.torch_renderer import volume_cache

    assert _volume_checks._PACKED_GRID_VOXELS == volume_cache.PACKED_GRID_VOXELS
    for dtype, (kernel_dtype, _) in volume_cache.KERNEL_DTYPES.items():
        copied = 0 if kernel_dtype == dtype else kernel_dtype.itemsize
        assert _volume_checks._KERNEL_COPY_BYTES[dtype.name] == copied, dtype


def test_the_volume_limit_can_be_raised(monkeypatch):
    monkeypatch.setattr(_volume_checks, "MAX_VOLUME_BYTES", 1 << 40)
    assert check_volume_size((4096, 4096, 4096), np.float32) >= 4.6 * 4096 ** 3


def test_the_pytorch_stages_copy_of_a_large_level_is_checked_before_it_is_made(monkeypatch):
    """Review finding: a volume counted at its compact cost was then copied to float32 and packed
    (20 more bytes per voxel) by the PyTorch stages (backend="torch", CUDA) without a check."""
    from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer

    volume = np.zeros((256, 256, 264), dtype=np.uint8)  # over 2^24 voxels: read in place by the kernel
    volume[100:150, 100:150, 100:150] = 1
    monkeypatch.setattr(_volume_checks, "MAX_VOLUME_BYTES", check_volume_size(volume.shape, volume.dtype) + 1)
    renderer = VolumeRenderer(volume.shape, backend="torch")
    with pytest.raises(ValueError, match=r"dtype uint8 would need .* with a float copy .*MAX_VOLUME_BYTES"):
        renderer.render(volume, Camera.for_volume(volume.shape), image_size=8, value_range=(0, 1))
