"""Load on a real `assistant ui` process: 16 concurrent scripted sessions for 60 s, no errors, no history leaks."""

from __future__ import annotations

import pytest

from evals.bench_load import run


@pytest.mark.slow
def test_sixteen_sessions_for_a_minute_get_their_own_answers() -> None:
    """Every answer arrives (no errors) and carries only its own session's conversation."""
    result = run(sessions=16, seconds=60)
    assert result["answers"] >= 16, result
    assert result["errors"] == 0, result["examples"]
    assert result["leaks"] == 0, result["examples"]
