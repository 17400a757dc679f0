import json

from mipo_bench.generation import Backend
from mipo_bench.judging.contexts import apply_contexts, parse_json_reply, run_contexts

RECORDS = [
    {"id": "u1", "prompt": "How do I cook rice?", "chosen": "Rinse, simmer 18 min.", "rejected": "Boil it."},
    {"id": "u2", "prompt": "Plan a trip", "chosen": "Day 1...", "rejected": "Go."},
    {"id": "u3", "prompt": "Hi", "chosen": "Hello!", "rejected": "Hi."},
]


class Scripted(Backend):
    def __init__(self, replies):
        super().__init__("scripted")
        self.replies, self.calls = replies, {}

    def generate(self, prompts, params, seeds=None):
        out = []
        for m in prompts:
            key = next(k for k in self.replies if k in m[-1]["content"])
            n = self.calls[key] = self.calls.get(key, 0) + 1
            out.append([self.replies[key][min(n, len(self.replies[key])) - 1]])
        return out


def test_parse_json_reply_kinds():
    assert parse_json_reply('Sure! {"detail_level": "Give step-by-step detail."}', "json_object") == {
        "detail_level": "Give step-by-step detail."
    }
    assert parse_json_reply("{not json}", "json_object") is None
    assert parse_json_reply('{"user-statement": "I like short answers."}', "user_statement") == "I like short answers."
    assert parse_json_reply('{"user-statement": "fill this with your response"}', "user_statement") is None
    rubric = {"criteria": "c", "score_descriptions": {str(k): "d" for k in range(1, 6)}}
    assert parse_json_reply(json.dumps(rubric), "rubric") == rubric
    assert parse_json_reply(json.dumps({"criteria": "c", "score_descriptions": {"1": "d"}}), "rubric") is None


def test_invalid_json_is_retried_then_recorded_as_failure(tmp_path):
    backend = Scripted(
        {
            "cook rice": ['{"detail": "Give precise steps."}'],
            "Plan a trip": ["not json", '{"planning": "Give day-by-day plans."}'],
            "Hi": ["nope", "still nope", "{broken"],
        }
    )
    rows = run_contexts(RECORDS, "extract_preferences", backend, tmp_path / "ctx.jsonl", retries=2)
    by = {r["id"]: r for r in rows}
    assert by["u1"]["value"] == {"detail": "Give precise steps."} and len(by["u1"]["replies"]) == 1
    assert by["u2"]["value"] == {"planning": "Give day-by-day plans."} and len(by["u2"]["replies"]) == 2
    assert by["u3"]["failed"] and by["u3"]["value"] is None and len(by["u3"]["replies"]) == 3
    filled = apply_contexts([{**r, "context": None, "preferences": []} for r in RECORDS], tmp_path / "ctx.jsonl")
    assert filled[0]["preferences"] == ["Give precise steps."] and filled[2]["context"] is None


def test_extraction_prompt_carries_both_options(tmp_path):
    seen = []

    class Recorder(Backend):
        def generate(self, prompts, params, seeds=None):
            seen.extend(prompts)
            return [['{"k": "v"}'] for _ in prompts]

    run_contexts(RECORDS[:1], "extract_preferences", Recorder("r"), tmp_path / "c.jsonl")
    text = seen[0][-1]["content"]
    assert "Option A: Rinse, simmer 18 min." in text and "Option B: Boil it." in text and seen[0][0]["role"] == "system"


def test_every_shipped_template_formats(tmp_path):
    from mipo_bench.core.resources import resource_dir
    from mipo_bench.judging.calls import load_template

    names = sorted(p.stem for p in resource_dir("judges").glob("*.yaml"))
    assert {"extract_preferences", "rewrite_system_message", "generate_rubric", "personalization_score"} <= set(names)
    fields = dict(
        prompt="p",
        chosen="a",
        rejected="b",
        context="c",
        dimension="style",
        query="q",
        response="r",
        preference="pref",
        reference="ref",
        criteria="crit",
        **{f"score{k}": f"s{k}" for k in range(1, 6)},
    )
    for name in names:
        template = load_template(name)
        text = template["user"].format(**fields)
        assert text.strip() and "{prompt}" not in text and "{context}" not in text and "{response}" not in text
