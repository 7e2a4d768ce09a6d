"""The DARTS cell space: genotype codec, op sets, the space, the supernet and the evaluation networks."""

from nasflat.spaces.darts.space import DartsSpace  # noqa: F401
from nasflat.spaces.darts.supernet import DartsSupernet, MixedEdge, SearchCell  # noqa: F401
