"""The fused CPU twin of the PyTorch stages (temporary re-exports during the move)."""

from .kernel import *  # noqa
from .kernel import _POOL_SIZE  # noqa
