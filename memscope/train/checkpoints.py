"""Model checkpoints: ``checkpoints/epoch-XXXX.pt`` (weights) and ``last.pt`` (resume state)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from memscope.errors import MemscopeError, StoreError

EPOCH_RE = re.compile(r"^epoch-(\d{4,})\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_weights(run_dir: Path, epoch: int, model: torch.nn.Module) -> Path:
    path = checkpoint_dir(run_dir) / f"epoch-{epoch:04d}.pt"
    _save_atomic({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, path)
    return path


def saved_epochs(run_dir: Path) -> list[int]:
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := EPOCH_RE.match(p.name)))


def load_weights(run_dir: Path, epoch: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    path = checkpoint_dir(run_dir) / f"epoch-{epoch:04d}.pt"
    if not path.is_file():
        have = ", ".join(map(str, saved_epochs(run_dir))) or "none"
        raise MemscopeError(f"no checkpoint for epoch {epoch} in {path.parent} (saved epochs: {have})")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise MemscopeError(f"checkpoint {path} is unreadable ({exc.__class__.__name__}); it may be truncated") from None


def apply_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise MemscopeError(f"{where} does not fit this model ({first[:200]}); was it saved by another architecture?") from None


def save_resume_state(run_dir: Path, state: dict[str, Any]) -> None:
    _save_atomic(state, checkpoint_dir(run_dir) / "last.pt")


def load_resume_state(run_dir: Path) -> dict[str, Any] | None:
    path = checkpoint_dir(run_dir) / "last.pt"
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise MemscopeError(f"resume state {path} is unreadable ({exc.__class__.__name__})") from None


def checkpoint_due(epoch: int, total: int, every: int) -> bool:
    """Weights are kept every ``every`` epochs and after the last one."""
    return epoch == total or epoch % every == 0


def save_or_explain(run_dir: Path, model: torch.nn.Module, save) -> None:
    """Call ``save()``; a failed write becomes a StoreError that says why (torch reports a
    full disk as a RuntimeError without errno: judge it from the free space)."""
    try:
        save()
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        if not isinstance(exc, OSError):
            need = 3 * sum(t.numel() * t.element_size() for t in model.state_dict().values()) + (1 << 20)
            with contextlib.suppress(OSError):
                free = shutil.disk_usage(run_dir).free
                if free < need:
                    reason = f"No space left on device ({free // 1024} KiB free)"
        raise StoreError(f"cannot write a checkpoint in {checkpoint_dir(run_dir)}: {reason}") from None
