"""Local model files: assembly from wheel parts, sha256 refusal, resolution errors, the CLI."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from assistant import models
from assistant.cli import main
from assistant.errors import ConfigError

PARTS = (b"GGUF first part " * 1000, b"second part " * 700)


def _wheel(folder: Path, project: str, member: str, data: bytes) -> None:
    """Write a minimal wheel `project-0.1-py3-none-any.whl` holding `member`."""
    module = project.replace("-", "_")
    dist = f"{module}-0.1.dist-info"
    with zipfile.ZipFile(folder / f"{module}-0.1-py3-none-any.whl", "w") as archive:
        archive.writestr(member, data)
        archive.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: 0.1\n")
        archive.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{dist}/RECORD", "")


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A two-part model published as two local wheels; the models folder under tmp_path."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    members = []
    for number, data in enumerate(PARTS, start=1):
        member = f"fake_model_part{number}/data/part{number:02d}.bin"
        _wheel(wheels, f"fake-model-part{number}", member, data)
        members.append(member)
    digest = hashlib.sha256(b"".join(PARTS)).hexdigest()
    spec = models.ModelSpec(
        name="fake",
        filename="fake.gguf",
        sha256=digest,
        packages=("fake-model-part1==0.1", "fake-model-part2==0.1"),
        members=tuple(members),
        description="test model",
        context=512,
    )
    monkeypatch.setitem(models.MODELS, "fake", spec)
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    return wheels, digest


def test_install_concatenates_parts_in_order_and_verifies(fake_model: tuple[Path, str]) -> None:
    """The installed file is the parts joined in order, and its hash is the official one."""
    wheels, digest = fake_model
    path = models.install("fake", wheels=wheels, log=lambda _: None)
    assert path == models.models_dir() / "fake.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert models.sha256_file(path) == digest
    assert models.resolve("fake") == path


def test_install_again_is_a_no_op(fake_model: tuple[Path, str]) -> None:
    """A verified model already in place is not downloaded again."""
    wheels, _ = fake_model
    models.install("fake", wheels=wheels, log=lambda _: None)
    lines: list[str] = []
    models.install("fake", wheels=wheels, log=lines.append)
    assert lines == [f"fake: already installed at {models.model_path('fake')}"]


def test_install_refuses_a_file_with_the_wrong_hash(
    fake_model: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose bytes do not hash to the official sha256 is refused and nothing is kept."""
    wheels, _ = fake_model
    wrong = models.MODELS["fake"].__class__(**{**models.MODELS["fake"].__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(models.MODELS, "fake", wrong)
    with pytest.raises(ConfigError, match="refusing fake: sha256"):
        models.install("fake", wheels=wheels, log=lambda _: None)
    assert list(models.models_dir().iterdir()) == []


def test_install_reports_a_missing_wheel(fake_model: tuple[Path, str], tmp_path: Path) -> None:
    """When pip cannot fetch a part the error names the model and says what pip said."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="could not download the wheels of fake"):
        models.install("fake", wheels=empty, log=lambda _: None)


def test_resolve_explains_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown names, uninstalled models and missing paths each get a one-line remedy."""
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="run `assistant models install smollm2-135m`"):
        models.resolve("smollm2-135m")
    with pytest.raises(ConfigError, match="not found"):
        models.resolve(tmp_path / "nope.gguf")
    with pytest.raises(ConfigError, match="unknown model 'gpt-9'"):
        models.model_path("gpt-9")
    file = tmp_path / "mine.gguf"
    file.write_bytes(b"GGUF")
    assert models.resolve(str(file)) == file


def test_models_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without ASSISTANT_MODELS_DIR, models live under the XDG data folder, outside the repo."""
    monkeypatch.delenv("ASSISTANT_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert models.models_dir() == tmp_path / "corpus-assistant" / "models"


def test_cli_lists_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`assistant models list` names every known model and whether it is installed."""
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["models", "list"], stdout=out) == 0
    text = out.getvalue()
    assert "qwen2.5-coder-1.5b" in text
    assert "smollm2-135m" in text
    assert "not installed" in text


def test_cli_install_unknown_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Installing an unknown model exits 1 with one line on stderr."""
    assert main(["models", "install", "gpt-9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'gpt-9'")
    assert err.count("\n") == 1
