"""The package list, computed (everything else is in pyproject.toml).

Every package folder under ``src/`` is discovered (with or without an ``__init__.py``), and ``conf/`` (the Hydra config
groups) ships as ``nasflat.conf`` with each of its folders declared as a sub-package, so setuptools sees no undeclared
package-data folders and a new sub-package or config group travels inside the wheel without editing a list.
"""

from setuptools import find_namespace_packages, setup

CACHES = ["__pycache__", "*.__pycache__"]
PACKAGES = sorted(find_namespace_packages("src", include=["nasflat", "nasflat.*"], exclude=CACHES))
CONF_GROUPS = sorted(find_namespace_packages("conf", exclude=CACHES))
setup(packages=[*PACKAGES, "nasflat.conf", *(f"nasflat.conf.{g}" for g in CONF_GROUPS)])
