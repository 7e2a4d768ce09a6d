"""Find and load the trained weights `analyze weights` measures, with the run configuration that rebuilds them.

A run directory (``nasflat retrain`` / ``search``) holds ``final_model.pt`` (the retrained network's state dict,
written when retraining ends), ``checkpoints/<phase>.pt`` (phase checkpoints: ``supernet`` for a SPOS-trained
supernet, ``retrain`` for the network mid-training) and its resolved configuration in ``run.json`` (written when the
run starts; ``.hydra/config.yaml`` as a fallback). Files are read with ``weights_only=True``. Every refusal says which
file or key and what to do.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from torch import nn

from nasflat.train import SupernetTrainer

FINAL_MODEL = "final_model.pt"
SUPERNET_CHECKPOINT = Path("checkpoints") / "supernet.pt"
Kind = Literal["network", "supernet"]


@dataclass(frozen=True)
class ModelSource:
    """Trained weights plus what rebuilds their module: the run's resolved config and the architecture text."""

    kind: Kind  # network: a standalone network of ``arch``; supernet: a SPOS supernet restricted to ``arch``
    file: Path
    run_dir: Path
    config: dict[str, Any]
    arch: str
    state: dict[str, torch.Tensor]

    @property
    def options(self) -> dict[str, Any]:
        """Keyword options of ``space.network`` / ``space.supernet`` exactly as the run built the module."""
        if self.kind == "network":
            return dict((self.config.get("retrain") or {}).get("network") or {})
        trainer = self.config.get("supernet") or {}
        own = set(inspect.signature(SupernetTrainer).parameters) | {"_target_", "_partial_"}
        extra = {k: v for k, v in trainer.items() if k not in own}  # SupernetTrainer's **supernet_options
        return {**(self.config.get("search_net") or {}), **extra, "affine": bool(trainer.get("affine", True))}

    def build(self, space: Any, num_classes: int) -> nn.Module:
        """The module with the stored weights loaded (strictly: a file that does not fit its config is refused)."""
        if self.kind == "network":
            model = space.network(space.parse(self.arch), num_classes, **self.options)
        else:
            model = space.supernet(num_classes, **self.options)
        try:
            model.load_state_dict(self.state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0][:200]
            raise ValueError(
                f"{self.file} does not fit the {self.kind} rebuilt from {self.run_dir}'s config ({first}); was the "
                "file replaced or the run's run.json edited? Rerun the command that wrote it"
            ) from None
        return model


def locate(path: str | Path, arch: str | None) -> ModelSource:
    """The weights at ``path``: a run directory (its final_model.pt; with ``arch=`` its trained supernet) or a file
    (final_model.pt, checkpoints/supernet.pt or checkpoints/retrain.pt)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"{p} does not exist: pass the run directory of a finished `nasflat retrain` or `nasflat search` (it holds "
            f"{FINAL_MODEL}), or a supernet checkpoint (RUN_DIR/{SUPERNET_CHECKPOINT}) with arch=..."
        )
    file = _model_file(p, arch) if p.is_dir() else p
    kind, state = _read(file)
    run_dir = _run_dir(file)
    config = _config(run_dir, file)
    if kind == "supernet" and not arch:
        raise ValueError(
            f"{file} is a trained supernet: pass arch=<architecture> to pick the sub-network to analyze "
            f"(e.g. the run's derived architecture in {run_dir / 'arch.txt'})"
        )
    if kind == "network":
        stored = _stored_arch(run_dir, config, file)
        if arch and arch != stored:
            raise ValueError(
                f"arch= picks a path of a supernet, but {file} is the standalone network of {stored}: drop arch= "
                f"(or pass the run's supernet checkpoint, RUN_DIR/{SUPERNET_CHECKPOINT})"
            )
        arch = stored
    assert arch is not None
    return ModelSource(kind, file, run_dir, config, arch, state)


def _model_file(run_dir: Path, arch: str | None) -> Path:
    supernet = run_dir / SUPERNET_CHECKPOINT
    if arch:
        if not supernet.exists():
            raise FileNotFoundError(
                f"{supernet} not found: arch= analyzes a path of the run's SPOS-trained supernet, which only searches "
                f"whose evaluator needs a trained supernet write; drop arch= to analyze the run's {FINAL_MODEL}"
            )
        return supernet
    final = run_dir / FINAL_MODEL
    if not final.exists():
        hint = f", or pass arch=<architecture> to analyze a path of its trained supernet ({supernet})"
        raise FileNotFoundError(
            f"{run_dir} has no {FINAL_MODEL} (written when retraining finishes): finish the run by rerunning its "
            f"command{hint if supernet.exists() else ''}"
        )
    return final


def _read(file: Path) -> tuple[Kind, dict[str, torch.Tensor]]:
    """(kind, state dict) of a final model or of a supernet / retrain phase checkpoint."""
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling / zip error: the file is unusable
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(
            f"{file} is corrupt or unreadable ({type(e).__name__}: {reason}): rerun the command that wrote it "
            "(with restart=true if the run itself refuses it)"
        ) from None
    phase = payload.get("phase") if isinstance(payload, dict) else None
    if isinstance(phase, dict) and isinstance(phase.get("model"), dict):
        if "init" in phase:  # SupernetTrainer.state_dict
            return "supernet", phase["model"]
        if "history" in phase:  # Retrainer.state_dict: the network as of its last finished epoch
            return "network", phase["model"]
    if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
        return "network", payload
    raise ValueError(
        f"{file} holds neither a network state dict ({FINAL_MODEL}) nor a supernet or retrain checkpoint: pass "
        f"RUN_DIR, RUN_DIR/{FINAL_MODEL} or RUN_DIR/{SUPERNET_CHECKPOINT}"
    )


def _run_dir(file: Path) -> Path:
    """The run directory of a model file: its folder, or the one above ``checkpoints/``."""
    here = file.parent
    return here.parent if here.name == "checkpoints" else here


def _config(run_dir: Path, file: Path) -> dict[str, Any]:
    """The run's resolved config: run.json's ``config``, else .hydra/config.yaml."""
    identity, hydra = run_dir / "run.json", run_dir / ".hydra" / "config.yaml"
    try:
        if identity.exists():
            return dict(json.loads(identity.read_text())["config"])
        if hydra.exists():
            return dict(yaml.safe_load(hydra.read_text()))
    except (ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        raise ValueError(f"{identity if identity.exists() else hydra} is not a readable run config ({e})") from None
    raise FileNotFoundError(
        f"no run.json or .hydra/config.yaml in {run_dir}: the network is rebuilt from its run's config, so keep "
        f"{file.name} inside the run directory that wrote it"
    )


def _stored_arch(run_dir: Path, config: dict[str, Any], file: Path) -> str:
    """The architecture of a run's network: arch.txt, else results.json, else the config's arch (retrain)."""
    text = run_dir / "arch.txt"
    if text.exists() and text.read_text().strip():
        return text.read_text().strip()
    results = run_dir / "results.json"
    if results.exists():
        return str(json.loads(results.read_text())["arch"])
    if config.get("arch"):
        return str(config["arch"])
    raise FileNotFoundError(f"no arch.txt, results.json or arch= in {run_dir}: cannot tell which network {file} is")
