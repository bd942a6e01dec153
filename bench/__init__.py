"""Benchmarks: a harness that starts only what a case needs and measures it against a baseline run alongside."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
