"""``python -m pyvr_jupyter.torch_renderer.fused [--dtypes uint16 int16] [--quiet]``: compile every
fused kernel into numba's disk cache ahead of use (``compilation.compile_all``), for example after
installing or upgrading, so that no view waits for its kernel."""

import argparse

from .args import GRID_DTYPES
from .compilation import compile_all


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyvr_jupyter.torch_renderer.fused", description=__doc__)
    parser.add_argument("--dtypes", nargs="+", default=[str(dtype) for dtype in GRID_DTYPES],
                        help="grid dtypes to compile for (default: all of them)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    options = parser.parse_args(argv)
    try:
        count = compile_all(options.dtypes, progress=not options.quiet)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    if not options.quiet:
        print(f"{count} kernel signatures compiled or loaded from numba's cache")


if __name__ == "__main__":
    main()
