"""What a run's results depend on in its dataset, as run-identity entries (``nasflat.rundir.RunIdentity.files``).

A rerun with replaced or edited data files must not be taken for the same run, so every dataset names its files
here: the built-in datasets their official files, ``array`` its .npz, ``image_folder`` one digest of all its images.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .custom import folder_identity
from .sources import SOURCES


def dataset_identity(dataset: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """role -> identity (path, size, mtime...) for the dataset config node ``dataset`` (name, root, path)."""
    from nasflat.rundir import file_identity

    name = dataset.get("name")
    if name in SOURCES:
        spec = SOURCES[name]
        directory = spec.directory(dataset.get("root"))
        return {f"dataset/{f}": file_identity(directory / f) for f in spec.files}
    if name == "array" and dataset.get("path"):
        return {f"dataset/{Path(dataset['path']).name}": file_identity(dataset["path"])}
    if name == "image_folder" and dataset.get("root"):
        return {f"dataset/{Path(dataset['root']).expanduser().resolve().name}": folder_identity(dataset["root"])}
    return {}
