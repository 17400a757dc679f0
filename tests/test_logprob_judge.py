"""`scoring: logprob` (G-Eval): the score is the expected rating under the judge's next-token distribution over the
labels 1-5, on the hf backend (whole distribution), vLLM (its top log-probs; tests/fake_vllm) and OpenAI-compatible
servers (tests/test_openai_backend.py); cached, and refused for a template whose reply does not begin with the score."""

import json
import math
import os
import sys
from pathlib import Path

import pytest

from mipo_bench.core.runs import read_jsonl
from mipo_bench.generation import get_backend
from mipo_bench.generation.base import labels_among
from mipo_bench.judging.calls import LABELS, judge_items, label_score
from mipo_bench.judging.samples import judge_samples

ITEMS = [{"id": f"i{k}", "query": "q", "preferences": ["short", "kind"], "response": f"answer {k}"} for k in range(3)]


def test_label_score_is_the_expected_label_over_the_labels_present():
    dist = {"1": math.log(0.1), "5": math.log(0.3)}  # 0.4 of the mass on labels; renormalized: 0.25 / 0.75
    row = label_score(dist)
    assert row["score"] == pytest.approx(0.25 * 1 + 0.75 * 5) and row["argmax"] == 5
    assert row["label_mass"] == pytest.approx(0.4) and not row["failed"]
    assert label_score({})["failed"] and label_score({})["score"] is None
    assert label_score({"3": -math.inf})["failed"]


def test_labels_among_a_servers_top_tokens():
    top = [(" 4", math.log(0.2)), ("4", math.log(0.1)), ("40", -1.0), ("x", -0.1), ("3 ", math.log(0.05))]
    got = labels_among(top, LABELS)
    assert (
        set(got) == {"3", "4"}
        and got["4"] == pytest.approx(math.log(0.3))
        and got["3"] == pytest.approx(math.log(0.05))
    )


def test_hf_logprob_judging_scores_every_call_and_is_cached(tiny_model_dir, tmp_path, monkeypatch):
    backend = get_backend("hf", tiny_model_dir, batch_size=2, device="cpu")
    rows = judge_items(ITEMS, backend, tmp_path / "j.jsonl", scoring="logprob")
    assert len(rows) == 6 and all(not r["failed"] and 1 <= r["score"] <= 5 for r in rows)
    for r in rows:  # the score is the expectation of the recorded distribution, over all five labels (hf)
        assert set(r["logprobs"]) == set(LABELS) and r["score"] == pytest.approx(label_score(r["logprobs"])["score"])
        assert 0 < r["label_mass"] <= 1 and r["argmax"] == int(max(r["logprobs"], key=r["logprobs"].get))
    assert [json.loads(line)["score"] for line in (tmp_path / "j.jsonl").read_text().splitlines()] == [
        r["score"] for r in rows
    ]
    monkeypatch.setattr(backend, "label_logprobs", lambda *a: pytest.fail("cached calls were asked again"))
    again = judge_items(ITEMS, backend, tmp_path / "j.jsonl", scoring="logprob")
    assert [r["score"] for r in again] == [r["score"] for r in rows]
    assert len(list(read_jsonl(tmp_path / "j.logprobs.jsonl"))) == 6


def test_hf_label_logprobs_do_not_depend_on_padding(tiny_model_dir):
    backend = get_backend("hf", tiny_model_dir, batch_size=2, device="cpu")
    chats = [[{"role": "user", "content": t}] for t in ("a", "a much longer question about many things")]
    batched = backend.label_logprobs(chats, ["1", "2"])
    single = [backend.label_logprobs([c], ["1", "2"])[0] for c in chats]
    for b, s in zip(batched, single):  # left padding does not change the scores
        assert b == pytest.approx(s, abs=1e-4)
    with pytest.raises(ValueError, match="one token each"):
        backend.label_logprobs([[{"role": "user", "content": "x"}]], ["10"])


def test_logprob_scoring_refuses_a_feedback_first_template(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="rubric_grade.yaml: .*feedback, not its score.*scoring: text"):
        judge_items(ITEMS, object(), tmp_path / "j.jsonl", template="rubric_grade", scoring="logprob")
    with pytest.raises(ValueError, match="scoring must be one of text, logprob"):
        judge_items(ITEMS, object(), tmp_path / "j.jsonl", scoring="likert")


def test_judge_samples_records_the_scoring_and_wins_by_expected_score(tiny_model_dir, tmp_path):
    samples = tmp_path / "samples.jsonl"
    with open(samples, "w") as f:
        for k, (resp, ref) in enumerate([("A vegan curry.", "Steak."), ("Go hiking.", "Stay home.")]):
            doc = {"id": f"u{k}", "prompt": "Plan my day.", "preferences": ["I am vegan"], "reference": ref}
            f.write(json.dumps({"doc_id": k, "doc": doc, "resps": [[resp]], "filtered_resps": [resp]}) + "\n")
    report = judge_samples(samples, tiny_model_dir, tmp_path / "judge", reference="dataset", scoring="logprob")
    assert report["scoring"] == "logprob" and report["failed"] == 0 and report["reference"]["failed"] == 0
    assert report["win_rate"]["n"] == 2


FAKE = str(Path(__file__).parent / "fake_vllm")


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKE)
    monkeypatch.setenv("PYTHONPATH", FAKE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("vllm", None)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    yield str(model)
    from mipo_bench.generation.vllm import release_engines

    release_engines()
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        sys.modules.pop(name)


@pytest.mark.parametrize("replicas", [1, 2])
def test_vllm_logprob_judging_reads_the_top_logprobs(fake_vllm, tmp_path, replicas, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    backend = get_backend("vllm", fake_vllm, data_parallel_size=replicas)
    items = [*ITEMS, {"id": "none", "query": "NOLABEL", "preferences": ["p"], "response": "r"}]
    rows = judge_items(items, backend, tmp_path / "j.jsonl", template="paper", scoring="logprob")
    labelled = [r for r in rows if r["item_id"] != "none"]
    assert all(set(r["logprobs"]) == {"3", "4", "5"} and 3 < r["score"] < 5 for r in labelled)
    assert labelled[0]["logprobs"]["4"] == pytest.approx(math.log(math.exp(-1.0) + math.exp(-1.5)))
    (missing,) = [r for r in rows if r["item_id"] == "none"]  # no label among the top tokens: a counted failure
    assert missing["failed"] and missing["score"] is None and "none of the labels" in missing["error"]
