"""Restricted unpickling of dataset files: they come from the internet, and a plain `pickle.load` runs any code.

Only what the CIFAR / ImageNet16 pickles need is admitted: numpy ndarray / dtype / scalar reconstruction,
`_codecs.encode(str, 'latin1')` (how Python 3 protocol-2 pickles spell bytes) and builtin containers. Any other
global (os.system, builtins.eval, subprocess.Popen, ...) raises `UnsafePickleError` before anything is called.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .sources import DatasetFileError


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list (it was not executed)."""


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` limited to latin-1 text: other codecs (zlib, bz2, ...) are never reachable from a pickle."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1":
        got = f"{type(obj).__name__} / {encoding!r}"
        raise UnsafePickleError(f"_codecs.encode is only admitted for str -> latin-1, got {got}")
    return obj.encode("latin-1", errors)


def _allowed() -> dict[tuple[str, str], Any]:
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core -> numpy._core; pickles use either name
    reconstruct = core.multiarray._reconstruct
    scalar = core.multiarray.scalar
    frombuffer = getattr(core.numeric, "_frombuffer", None)  # protocol-5 ndarray pickles
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy.core", "numpy._core"):
        table[(f"{mod}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{mod}.multiarray", "scalar")] = scalar
        if frombuffer is not None:
            table[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    # numpy dtype classes (numpy >= 1.25 pickles dtypes as numpy.dtypes.UInt8DType etc.)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for name in dir(dtypes):
            if name.endswith("DType"):
                table[("numpy.dtypes", name)] = getattr(dtypes, name)
    for name in ("list", "dict", "tuple", "set", "frozenset", "bytearray", "int", "float", "complex", "bool", "str"):
        table[("builtins", name)] = table[("__builtin__", name)] = getattr(__import__("builtins"), name)
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` admits only the globals in `_allowed()`."""

    def __init__(self, file: Any, *, path: str | Path = "<stream>", encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self._path = str(path)
        self._table = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {self._path}: it references the global {module}.{name}, which is not numpy "
                "array data; dataset pickles never need it, so the file is corrupt or malicious. Delete it and "
                "obtain the dataset again from its official source."
            ) from None


def _str_keys(obj: Any) -> Any:
    """Python-2 pickles read as bytes give b'data'; normalise dict keys to str so callers see one spelling."""
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return obj


def load_pickle(path: str | Path) -> Any:
    """Load an untrusted dataset pickle (Python 2 str or bytes keys, numpy arrays) with the restricted unpickler.

    A damaged file raises `DatasetFileError` naming it and what is wrong (a bare `EOFError` names nothing).
    """
    path = Path(path)
    with path.open("rb") as f:
        try:
            return _str_keys(RestrictedUnpickler(f, path=path).load())
        except UnsafePickleError as e:
            if str(path) in str(e):
                raise
            raise UnsafePickleError(f"refusing to load {path}: {e}") from None
        except OSError:
            raise
        except Exception as e:  # garbage bytes reach anything inside pickle/numpy: all mean "damaged file"
            raise DatasetFileError(path, _damage(path, e)) from e


def _damage(path: Path, error: Exception) -> str:
    """Why `path` did not unpickle, in words: empty, truncated, or not a pickle at all."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
    if size == 0:
        return "is empty (0 bytes)"
    if isinstance(error, EOFError) or "truncated" in str(error):
        return f"is truncated: the pickle ends early ({size:,} bytes; an interrupted download or copy)"
    if not head.startswith(b"\x80"):  # protocol >= 2 pickles (all dataset files) start with PROTO
        return f"is not a pickle (it starts with {head!r}; a dataset pickle starts with b'\\x80')"
    return f"is a damaged pickle ({type(error).__name__}: {error})"
