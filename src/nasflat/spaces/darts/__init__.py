"""The DARTS cell space: genotype codec, op sets (DARTS, RobustDARTS S1–S4), the space, the supernet and the
evaluation networks."""

from nasflat.spaces.darts.op_sets import OP_SET_NAMES, OpSet, get_op_set  # noqa: F401
from nasflat.spaces.darts.space import DartsSpace  # noqa: F401
from nasflat.spaces.darts.supernet import DartsSupernet, MixedEdge, SearchCell  # noqa: F401
