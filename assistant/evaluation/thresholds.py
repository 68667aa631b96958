"""Metric thresholds from `evals/thresholds.toml`: which metrics of a run are out of bounds."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import ConfigError


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds (`minimum`) and upper bounds (`maximum`) by metric name."""

    minimum: dict[str, float] = field(default_factory=dict)
    maximum: dict[str, float] = field(default_factory=dict)


def load_thresholds(path: Path, known: set[str]) -> Thresholds:
    """Read a thresholds file; unknown sections or metric names are errors."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"thresholds file {path} not found: create it or pass --thresholds") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    unknown_sections = set(data) - {"minimum", "maximum"}
    if unknown_sections:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown_sections)}; use [minimum] and [maximum]")
    bounds: dict[str, dict[str, float]] = {}
    for section in ("minimum", "maximum"):
        values = data.get(section, {})
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown metric(s) {unknown} in [{section}]; known: {sorted(known)}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
            raise ConfigError(f"{path}: every value in [{section}] must be a number")
        bounds[section] = {name: float(value) for name, value in values.items()}
    return Thresholds(bounds["minimum"], bounds["maximum"])


def breaches(summary: Mapping[str, float | int | None], thresholds: Thresholds) -> list[str]:
    """One line per metric out of bounds; metrics with no data are not gated."""
    lines = []
    for name, floor in thresholds.minimum.items():
        value = summary.get(name)
        if value is not None and value < floor:
            lines.append(f"{name} {value:.3g} is below its minimum {floor:g}")
    for name, ceiling in thresholds.maximum.items():
        value = summary.get(name)
        if value is not None and value > ceiling:
            lines.append(f"{name} {value:.3g} is above its maximum {ceiling:g}")
    return lines
