"""Evaluation: golden-set scoring as pure functions, and a runner over `answer()`."""
