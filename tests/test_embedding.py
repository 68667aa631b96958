"""Embeddings: the bundled all-MiniLM-L6-v2, identical to sentence-transformers' output."""

from __future__ import annotations

import math

import numpy as np

from assistant.embedding import Embedder, bundled_model_path

TEXTS = [
    "Ketamine rapidly reduces symptoms of treatment-resistant depression.",
    "Participants included 69 patients with major depressive disorder and 41 healthy control subjects.",
    "x",
    "A much longer passage " * 120,  # beyond the 256-token window: truncated like the reference
]


def test_vectors_match_sentence_transformers(embedder: Embedder) -> None:
    """Our forward pass gives the same vectors as SentenceTransformer.encode on the same files."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(bundled_model_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = np.array(embedder.encode(TEXTS))
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, reference, atol=2e-5)


def test_vectors_are_normalised_and_in_input_order(embedder: Embedder) -> None:
    """Each vector has unit length, and batching by length does not reorder results."""
    together = embedder.encode(TEXTS)
    alone = [embedder.encode([t])[0] for t in TEXTS]
    for a, b in zip(together, alone, strict=True):
        assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-5)
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_similar_texts_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    """A paraphrase is nearer than an unrelated sentence (the model is real, not random)."""
    q, para, other = embedder.encode(
        ["How fast does ketamine work?", "Ketamine relieves symptoms within hours.", "The bakery sells bread."]
    )
    assert float(np.dot(q, para)) > float(np.dot(q, other)) + 0.2


def test_counters_track_work(embedder: Embedder) -> None:
    """calls and texts_embedded count what was embedded."""
    calls, texts = embedder.calls, embedder.texts_embedded
    embedder.embed_documents(["one", "two"])
    embedder.embed_query("three")
    assert (embedder.calls - calls, embedder.texts_embedded - texts) == (2, 3)
