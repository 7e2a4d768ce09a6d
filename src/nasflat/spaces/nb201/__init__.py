"""NAS-Bench-201 cell space: the arch value and codec, the space, the standalone network and the supernet."""

from nasflat.spaces.nb201.codec import *  # noqa: F403
from nasflat.spaces.nb201.codec import _OP_INDEX  # noqa: F401
from nasflat.spaces.nb201.network import *  # noqa: F403
from nasflat.spaces.nb201.network import OP_FACTORIES, Cell, NB201Network, ResidualBlock, cost, param_count  # noqa: F401
from nasflat.spaces.nb201.space import NB201Space  # noqa: F401
from nasflat.spaces.nb201.supernet import NB201SuperNet, SearchCell  # noqa: F401
