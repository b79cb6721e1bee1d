"""The CPU kernels' vector reads of the grid, written as LLVM IR because numba leaves them scalar.

- ``blend_four_channels``: a sample of a packed grid (``stages/volume_sampling.pack_grid``: value
  and gradient, 4 channels side by side) reads 8 corners × 4 channels. Written as numba code that
  is 32 scalar loads, 32 conversions to float64 and 32 multiply-adds: LLVM's vectoriser finds no
  adjacent stores to start from, so it never joins them. Here each corner is one 4-wide load, one
  widening conversion and one vector multiply-add (a dense 256³ frame: 16 % less CPU, the same
  image to the bit).
- ``interior_gradient``: the gradient a value grid's sample is shaded with (central differences at
  the cell's 8 corners, blended) reads 48 values; they lie on 12 rows of 4 along x, so 12 vector
  loads and vector arithmetic do it (a dense 384³ frame: 10 % less CPU).
- ``channel_gradients``: the same gradient for every channel of an interleaved grid (D, H, W, C ≤ 4)
  at once: each of the 32 voxels it reads is one 4-wide load of its channels, and each term one
  vector multiply-add for all of them (three shaded channels: 22 % less CPU per frame than a
  channel at a time).

numba's CUDA target cannot call them; ``targets.py`` picks them on the CPU and scalar code on the
GPU.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

__all__ = ["blend_four_channels", "channel_gradients", "interior_gradient"]

_LANES = 4
_FAST = ("fast",)


def _widened(builder, vector, dtype, target):
    """``vector`` (<4 x dtype>) as <4 x double>."""
    if isinstance(dtype, types.Float):
        return vector if dtype.bitwidth == 64 else builder.fpext(vector, target)
    return builder.sitofp(vector, target) if dtype.signed else builder.uitofp(vector, target)


def _splat(builder, scalar, vector_type):
    """A vector of ``scalar`` in every lane."""
    lane = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES)
    return builder.shuffle_vector(lane, ir.Constant(vector_type, ir.Undefined), zeros)


_WIDE = ir.VectorType(ir.DoubleType(), _LANES)


def _four_wide_reader(context, builder, grid_type, grid):
    """``read(key, offset)``: the 4 elements of ``grid`` (a C-contiguous array of ``grid_type``)
    from element ``offset()`` on, as <4 x double>; loaded once per ``key`` (the caller's name for
    where it reads, e.g. a voxel's offsets from the cell)."""
    data = context.make_array(grid_type)(context, builder, grid).data
    element = context.get_data_type(grid_type.dtype)
    loaded, align, reads = ir.VectorType(element, _LANES).as_pointer(), context.get_abi_sizeof(element), {}

    def read(key, offset):
        if key not in reads:
            pointer = builder.bitcast(builder.gep(data, [offset()], inbounds=True), loaded)
            reads[key] = _widened(builder, builder.load(pointer, align=align), grid_type.dtype, _WIDE)
        return reads[key]
    return read


def _gradient_weights(context, builder, fractions, fraction_types):
    """(linear, central) for the cell fractions (fx, fy, fz), by axis "x", "y", "z": the
    trilinear weights of the cell's two corners, (1 − f, f), and the central difference's weights
    on voxels −1, 0, 1, 2, blended between them: −(1 − f)/2, −f/2, (1 − f)/2, f/2."""
    one, half = ir.Constant(ir.DoubleType(), 1.0), ir.Constant(ir.DoubleType(), 0.5)
    linear = {}
    for axis, value, value_type in zip("xyz", fractions, fraction_types):
        f = context.cast(builder, value, value_type, types.float64)
        linear[axis] = (builder.fsub(one, f, flags=_FAST), f)
    central = {axis: (builder.fneg(_mul(builder, low, half)), builder.fneg(_mul(builder, high, half)),
                      _mul(builder, low, half), _mul(builder, high, half)) for axis, (low, high) in linear.items()}
    return linear, central


def _mul(builder, a, b):
    return builder.fmul(a, b, flags=_FAST)


def _tree_sum(builder, terms):
    """The sum of ``terms``, added pairwise."""
    while len(terms) > 1:
        terms = [builder.fadd(a, b, flags=_FAST) for a, b in zip(terms[::2], terms[1::2])] + terms[len(terms) & ~1:]
    return terms[0]


@intrinsic
def blend_four_channels(typingctx, grid, base, step_x, step_y, step_z, weights):
    """(c0, c1, c2, c3): channels 0..3 of ``grid`` (D, H, W, C ≥ 4, C-contiguous, any kernel
    dtype) at the cell whose corner (k, j, i) starts at element ``base``, blended with the 8
    ``lookup.corner_weights`` (a tuple); ``step_x/y/z``: elements from one voxel to the next
    along x, y, z. float64, as ``lookup.blend`` channel by channel.

    Example (inside a CPU kernel): ``blend_four_channels(grid, k * sz + j * sy + i * sx, sx, sy, sz, weights)``.
    """
    if not (isinstance(grid, types.Array) and grid.ndim == 4 and grid.layout == "C"):
        return None
    signature = types.UniTuple(types.float64, _LANES)(grid, base, step_x, step_y, step_z, weights)

    def codegen(context, builder, sig, args):
        read = _four_wide_reader(context, builder, sig.args[0], args[0])
        base, step_x, step_y, step_z, corner_weights = args[1:]
        total = None
        for corner in range(8):  # lookup.corner_weights' order: bit 0 is x, bit 1 y, bit 2 z
            offset = base
            for bit, step in ((1, step_x), (2, step_y), (4, step_z)):
                if corner & bit:
                    offset = builder.add(offset, step)
            weight = _splat(builder, builder.extract_value(corner_weights, corner), _WIDE)
            term = builder.fmul(read(corner, lambda offset=offset: offset), weight, flags=_FAST)
            total = term if total is None else builder.fadd(total, term, flags=_FAST)
        lanes = [builder.extract_element(total, ir.Constant(ir.IntType(32), lane)) for lane in range(_LANES)]
        return context.make_tuple(builder, sig.return_type, lanes)

    return signature, codegen


def _vector(builder, scalars):
    """<4 x double> of four double scalars."""
    vector = ir.Constant(ir.VectorType(ir.DoubleType(), _LANES), ir.Undefined)
    for lane, scalar in enumerate(scalars):
        vector = builder.insert_element(vector, scalar, ir.Constant(ir.IntType(32), lane))
    return vector


def _dot(builder, a, b):
    """a · b of two <4 x double>."""
    product = builder.fmul(a, b, flags=_FAST)
    lanes = [builder.extract_element(product, ir.Constant(ir.IntType(32), lane)) for lane in range(_LANES)]
    return builder.fadd(builder.fadd(lanes[0], lanes[1], flags=_FAST), builder.fadd(lanes[2], lanes[3], flags=_FAST),
                        flags=_FAST)


def _gradient_codegen():
    def codegen(context, builder, sig, args):
        read = _four_wide_reader(context, builder, sig.args[0], args[0])
        base, step_y, step_z = args[1:4]
        linear, central = _gradient_weights(context, builder, args[4:], sig.args[4:])
        index = base.type

        def row(dy, dz):  # voxels i − 1 .. i + 2 of the row (j + dy, k + dz)
            return read((dy, dz), lambda: builder.add(base, builder.add(builder.mul(step_y, ir.Constant(index, dy)),
                                                                        builder.mul(step_z, ir.Constant(index, dz)))))

        def weighted_sum(terms):  # Σ weight · row, terms: ((dy, dz), weight)
            total = None
            for (dy, dz), weight in terms:
                term = builder.fmul(row(dy, dz), _splat(builder, weight, _WIDE), flags=_FAST)
                total = term if total is None else builder.fadd(total, term, flags=_FAST)
            return total

        zero = ir.Constant(ir.DoubleType(), 0.0)
        across_x = _vector(builder, (zero, *linear["x"], zero))
        blended = weighted_sum(((a, b), _mul(builder, linear["y"][a], linear["z"][b])) for a in (0, 1) for b in (0, 1))
        along_y = weighted_sum(((dy, b), _mul(builder, central["y"][dy + 1], linear["z"][b]))
                               for dy in (-1, 0, 1, 2) for b in (0, 1))
        along_z = weighted_sum(((a, dz), _mul(builder, central["z"][dz + 1], linear["y"][a]))
                               for a in (0, 1) for dz in (-1, 0, 1, 2))
        gradient = (_dot(builder, blended, _vector(builder, central["x"])), _dot(builder, along_y, across_x),
                    _dot(builder, along_z, across_x))
        return context.make_tuple(builder, sig.return_type, gradient)

    return codegen


@intrinsic
def interior_gradient(typingctx, grid, base, step_y, step_z, fx, fy, fz):
    """(d/dx, d/dy, d/dz) per voxel step of a value grid (D, H, W, 1), C-contiguous, at the cell
    (k, j, i) with fractions (fx, fy, fz), where ``base`` is the element of voxel (k, j, i − 1)
    and the cell is at least one voxel from every face: ``lookup.central_gradient`` (central
    differences at the 8 corners, blended trilinearly) from 12 four-wide loads of rows along x
    instead of 48 scalar ones; ``step_y/z``: elements from one voxel to the next along y, z.

    Example (inside a CPU kernel): ``interior_gradient(grid, k * sz + j * sy + i - 1, sy, sz, fx, fy, fz)``.
    """
    if not (isinstance(grid, types.Array) and grid.ndim == 4 and grid.layout == "C"):
        return None
    signature = types.UniTuple(types.float64, 3)(grid, base, step_y, step_z, types.float64, types.float64,
                                                 types.float64)
    return signature, _gradient_codegen()


def _channel_gradients_codegen():
    def codegen(context, builder, sig, args):
        read = _four_wide_reader(context, builder, sig.args[0], args[0])
        base, step_x, step_y, step_z = args[1:5]
        linear, central = _gradient_weights(context, builder, args[5:], sig.args[5:])
        index = base.type

        def voxel(offsets):  # the channels of voxel (i + dx, j + dy, k + dz), offsets by axis
            def offset():
                element = base
                for axis, step in (("x", step_x), ("y", step_y), ("z", step_z)):
                    if offsets[axis]:
                        element = builder.add(element, builder.mul(step, ir.Constant(index, offsets[axis])))
                return element
            return read((offsets["x"], offsets["y"], offsets["z"]), offset)

        sums = []
        for axis in ("x", "y", "z"):
            across = [other for other in ("x", "y", "z") if other != axis]
            terms = []
            for a in (0, 1):
                for b in (0, 1):
                    bilinear = _mul(builder, linear[across[0]][a], linear[across[1]][b])
                    for d in (-1, 0, 1, 2):
                        weight = _splat(builder, _mul(builder, bilinear, central[axis][d + 1]), _WIDE)
                        terms.append(_mul(builder, voxel({axis: d, across[0]: a, across[1]: b}), weight))
            sums.append(_tree_sum(builder, terms))
        lanes = [builder.extract_element(total, ir.Constant(ir.IntType(32), lane)) for total in sums
                 for lane in range(_LANES)]
        return context.make_tuple(builder, sig.return_type, lanes)

    return codegen


@intrinsic
def channel_gradients(typingctx, grid, base, step_x, step_y, step_z, fx, fy, fz):
    """(d/dx of channels 0..3, d/dy of channels 0..3, d/dz of channels 0..3), 12 float64s, per
    voxel step, of an interleaved grid (D, H, W, C ≤ 4), C-contiguous, at the cell (k, j, i) with
    fractions (fx, fy, fz), where ``base`` is the element of voxel (k, j, i)'s channel 0 and the
    cell is at least one voxel from every face: ``lookup.central_gradient`` of every channel at
    once (lanes from C on are meaningless); ``step_x/y/z``: elements from one voxel to the next.

    Example (inside a CPU kernel): ``channel_gradients(grid, k * sz + j * sy + i * sx, sx, sy, sz, fx, fy, fz)``.
    """
    if not (isinstance(grid, types.Array) and grid.ndim == 4 and grid.layout == "C"):
        return None
    signature = types.UniTuple(types.float64, 3 * _LANES)(grid, base, step_x, step_y, step_z, types.float64,
                                                          types.float64, types.float64)
    return signature, _channel_gradients_codegen()
