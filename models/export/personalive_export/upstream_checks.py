"""Checks that need no torch (they run before it is used)."""
import re

from . import MIN_TORCH
from .errors import ExportError


def check_torch_version(version):
    numbers = tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])[:2])
    if numbers < MIN_TORCH:
        raise ExportError(
            "EXPORT_ENVIRONMENT",
            f"torch {version} is too old: the exporter needs torch >= {'.'.join(map(str, MIN_TORCH))} "
            "(upstream's README installs torch 2.1)",
            torch=version,
        )
