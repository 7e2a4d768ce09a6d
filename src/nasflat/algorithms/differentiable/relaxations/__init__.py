"""Relaxations: how raw architecture parameters become a supernet :class:`~nasflat.spaces.mixture.Mixture`.

One module per relaxation; the config names its class (``conf/algo/relaxation/<name>.yaml``), so adding one
touches its module, its config and its test only.
"""
