"""Embeddings: the bundled all-MiniLM-L6-v2, equal to sentence-transformers' output in fp32, near it in int8."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.embedding import INT8_MIN_CHARS, Embedder, bundled_model_path
from assistant.errors import ConfigError

TEXTS = [
    "Ketamine rapidly reduces symptoms of treatment-resistant depression.",
    "Participants included 69 patients with major depressive disorder and 41 healthy control subjects.",
    "x",
    "A much longer passage " * 120,  # beyond the 256-token window: truncated like the reference
]


# Inputs long enough for the int8 graph (200 characters or more), of several kinds of text.
LONG = [
    "Participants included 69 patients with major depressive disorder and 41 healthy control subjects, matched "
    "for age and sex, and all of them gave written informed consent before the first scan at the university "
    "hospital.",
    "The committee approved the budget on 12 March 2019, after three rounds of negotiation between the two parties "
    "and a public consultation that drew more than four hundred written responses from residents.",
    "Mitochondrial DNA copy number was inversely associated with all-cause mortality (HR 0.83, 95% CI 0.76-0.90) "
    "after adjustment for age, sex, smoking and body-mass index, in 21,870 participants followed for 10 years.",
    "In the autumn the herons leave the northern marshes and gather along the estuary in their hundreds, feeding "
    "for several weeks before they fly south for the winter, a few of them staying on when the weather is mild.",
    "Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product "
    "that most other living things on the planet depend on, and it takes place mostly in the leaves.",
    "A much longer passage " * 120,  # beyond the 256-token window: truncated like the reference
]


def _reference(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True))


def test_vectors_match_sentence_transformers() -> None:
    """The fp32 forward pass gives the same vectors as SentenceTransformer.encode on the same files."""
    ours = np.array(Embedder(precision="fp32").encode(TEXTS + LONG))
    assert ours.shape == (len(TEXTS + LONG), 384)
    np.testing.assert_allclose(ours, _reference(TEXTS + LONG), atol=2e-5)


def test_int8_batches_stay_within_cosine_0_99_and_questions_run_in_fp32(embedder: Embedder) -> None:
    """The default precision runs long batch inputs on the int8 graph (near, not equal, to the reference);
    a question and short inputs get the reference's own vectors."""
    assert embedder.precision == "int8"
    reference = _reference([*LONG, "Yes.", "x", "Table 1"])
    batch = np.array(embedder.encode(LONG))
    cosine = (batch * reference[: len(LONG)]).sum(1)
    assert cosine.min() >= 0.99
    assert cosine.max() < 0.99999  # the int8 graph really ran: fp32 would agree to 1e-5
    assert True in embedder._sessions  # the int8 session was loaded and used
    np.testing.assert_allclose(embedder.encode(LONG[:1]), reference[:1], atol=2e-5)  # a question: fp32
    short = np.array(embedder.encode(["Yes.", "x", "Table 1"]))  # a batch of short inputs: fp32
    np.testing.assert_allclose(short, reference[len(LONG) :], atol=2e-5)


def test_the_int8_graph_keeps_the_first_feed_forward_output_projections_in_fp32(embedder: Embedder) -> None:
    """Every weight product is int8 except the first three layers' 1536 -> 384 ones; the precision is part of
    the fingerprint."""
    import onnx

    nodes = onnx.load(str(embedder.int8_path)).graph.node
    integer = [n.name for n in nodes if n.op_type == "MatMulInteger"]
    kept = [
        n.name for n in nodes if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
    ]
    assert len(integer) == 6 * 5 + 3  # query, key, value, attention output, feed-forward input; 3 outputs
    assert sorted(kept) == [f"/bert/encoder/layer.{k}/output/dense/MatMul" for k in range(3)]
    assert embedder.fingerprint() != Embedder(precision="fp32").fingerprint()


def test_an_unknown_precision_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="unknown embedding precision 'int4'"):
        Embedder(precision="int4")


def test_vectors_are_normalised_and_in_input_order(embedder: Embedder) -> None:
    """Each vector has unit length, and batching by length does not reorder results (in a batch, long
    inputs run on the int8 graph, so they are near their one-text vectors rather than equal)."""
    texts = TEXTS + LONG[:-1]  # (the last is in TEXTS too)
    together = embedder.encode(texts)
    alone = [embedder.encode([t])[0] for t in texts]
    for text, a, b in zip(texts, together, alone, strict=True):
        assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-5)
        if len(text) < INT8_MIN_CHARS:
            np.testing.assert_allclose(a, b, atol=1e-5)
        else:
            assert float(np.dot(a, b)) >= 0.99
    cosine = np.array(together) @ np.array(alone).T
    assert (cosine.argmax(1) == np.arange(len(texts))).all()  # each vector is its own text's


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


def test_importing_and_embedding_leave_the_process_as_it_was() -> None:
    """No environment variable set, no torch loaded: a host application's libraries behave as before."""
    import subprocess
    import sys

    code = (
        "import os, sys; before = dict(os.environ)\n"
        "import assistant, assistant.pipeline, assistant.embedding\n"
        "vector = assistant.embedding.Embedder().embed_query('a question')\n"
        "assert len(vector) == 384\n"
        "changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}\n"
        "print(sorted(changed), 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[] False"


def test_span_vectors_read_each_sentence_in_its_text(embedder: Embedder) -> None:
    """encode_spans pools each sentence from the text's pass: close to the sentence alone, None past the window."""
    text = "Ketamine relieves depression within hours. The bakery sells bread on Sundays."
    spans = [(0, 42), (43, len(text))]
    vectors, pooled = embedder.encode_spans([text, "word " * 400], [spans, [(0, 4), (1900, 1904)]])
    assert np.allclose(vectors[0], embedder.encode([text])[0], atol=1e-5)
    drug, bakery = embedder.encode(["Ketamine relieves depression within hours.", "The bakery sells bread on Sundays."])
    first, second = pooled[0]
    assert first is not None and second is not None
    assert float(np.dot(first, drug)) > float(np.dot(first, bakery)) + 0.2
    assert float(np.dot(second, bakery)) > float(np.dot(second, drug)) + 0.2
    assert pooled[1][0] is not None and pooled[1][1] is None  # the second span lies beyond 256 tokens


def test_langchain_wrapper_is_a_langchain_embeddings(embedder: Embedder) -> None:
    """Embedder.langchain() passes LangChain's type checks and returns the embedder's own vectors."""
    from langchain_core.embeddings import Embeddings

    wrapped = embedder.langchain()
    assert isinstance(wrapped, Embeddings)
    assert np.allclose(wrapped.embed_query("a question"), embedder.encode(["a question"])[0], atol=1e-6)
    assert len(wrapped.embed_documents(["one", "two"])) == 2


def test_weights_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch) -> None:
    """The weights' sha256 is computed once per file state; rewriting the file makes it hash again."""
    import hashlib
    import os

    from assistant import embedding

    weights, cache = tmp_path / "model.safetensors", tmp_path / "cache"
    weights.write_bytes(b"a" * 4096)
    assert embedding.weights_sha256(weights, cache) == hashlib.sha256(b"a" * 4096).hexdigest()
    assert (cache / "sha256.json").is_file()

    def refuse(path: object) -> str:
        raise AssertionError("hashed again although the file did not change")

    with monkeypatch.context() as patch:
        patch.setattr(embedding, "_sha256", refuse)
        assert embedding.weights_sha256(weights, cache) == hashlib.sha256(b"a" * 4096).hexdigest()
    stat = weights.stat()
    weights.write_bytes(b"b" * 4096)  # same size, and the modification time put back
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert embedding.weights_sha256(weights, cache) == hashlib.sha256(b"b" * 4096).hexdigest()


def test_export_record_without_its_file_state_is_verified_once(tmp_path, monkeypatch) -> None:
    """An export record that lacks the export's size and time is checked by hash once, then remembered."""
    import hashlib
    import json

    from assistant import embedding

    target, record = tmp_path / "model.onnx", tmp_path / "export.json"
    target.write_bytes(b"graph" * 100)
    record.write_text(json.dumps({"source_sha256": "src", "onnx_sha256": hashlib.sha256(b"graph" * 100).hexdigest()}))
    assert embedding.Embedder._export_is_good(target, record, "src")
    assert json.loads(record.read_text())["size"] == 500

    def refuse(path: object) -> str:
        raise AssertionError("hashed again although the export did not change")

    with monkeypatch.context() as patch:
        patch.setattr(embedding, "_sha256", refuse)
        assert embedding.Embedder._export_is_good(target, record, "src")
    assert not embedding.Embedder._export_is_good(target, record, "other source")
    target.write_bytes(b"tampered" * 10)
    assert not embedding.Embedder._export_is_good(target, record, "src")
