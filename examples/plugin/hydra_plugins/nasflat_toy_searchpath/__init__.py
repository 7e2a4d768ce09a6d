"""Puts nasflat_toy's config groups on Hydra's search path: Hydra imports every ``hydra_plugins.*`` package it finds
and calls each SearchPathPlugin, so ``space=toy`` and ``evaluator=synflow`` work once the package is installed."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class NasflatToySearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="nasflat_toy", path="pkg://nasflat_toy.conf")
