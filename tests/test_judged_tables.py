"""The judged (personalization) path of the paper tables: the paper's judge by model family, each dataset's judge
template (with the personalized prompt where the scripts put it), failed judge calls counted against the model and
shown, Table 6's messages, and the tables' deltas, highlights and missing seeds. Regressions of defects 5-8 and 12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mipo_bench.analysis.results import collect
from mipo_bench.analysis.tables import build_table, load_table, render
from mipo_bench.data.prompts import personalized_prompt
from mipo_bench.generation import Backend
from mipo_bench.judging.paper_judge import LLAMA_JUDGE, QWEN_JUDGE, paper_judge
from mipo_bench.judging.winrate import compare
from tests.test_tables import MODEL, _scores, write_eval


class ContentJudge(Backend):
    """Replies by what the judged text contains (first matching key of ``script``); every prompt is kept."""

    def __init__(self, script: dict[str, str], default: str = "4"):
        super().__init__("content-judge")
        self.script, self.default, self.prompts = script, default, []

    def generate(self, prompts, params, seeds=None):
        self.prompts.extend(prompts)
        out = []
        for messages in prompts:
            text = messages[-1]["content"]
            out.append([next((reply for key, reply in self.script.items() if key in text), self.default)])
        return out


def model_dir(root: Path, name: str, **config) -> str:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


# ----------------------------------------------------------------------------------- defect 5: the paper's judge
def test_the_paper_judge_follows_the_policys_family(tmp_path):
    assert paper_judge("Qwen/Qwen2.5-1.5B-Instruct").judge == QWEN_JUDGE
    judge, reason = paper_judge("meta-llama/Llama-3.2-1B-Instruct")
    assert judge == LLAMA_JUDGE and "llama" in reason
    assert paper_judge(model_dir(tmp_path, "run-a", model_type="qwen2")).judge == QWEN_JUDGE  # by its config
    assert paper_judge(model_dir(tmp_path, "run-b", model_type="llama", vocab_size=128256)).judge == LLAMA_JUDGE
    for other in ("smollm2-135m-instruct", model_dir(tmp_path, "smol", model_type="llama", vocab_size=49152)):
        choice = paper_judge(other)
        assert choice.judge == other and choice.self_judging and "itself" in choice.reason
    assert not paper_judge("Qwen/Qwen2.5-1.5B-Instruct").self_judging


def write_personalization_eval(model_path, task: str, where: Path, ev: dict, label: str) -> dict:
    """What the eval stage writes for a personalization task, two items whose docs carry prompt, context,
    preferences and reference (stands in for `reproduce`'s lm-eval run)."""
    where.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(2):
        doc = {
            "id": f"{task}/{i}",
            "prompt": f"question {i}",
            "context": f"I like cats. I am {i} years old.",
            "preferences": ["I like cats.", f"I am {i} years old."],
            "reference": f"gold answer {i}",
        }
        text = f"{label} answer {i}"
        samples.append({"doc_id": i, "doc": doc, "filter": "none", "metrics": [], "resps": [[text]]})
    with open(where / f"samples_{task}_2025.jsonl", "w") as f:
        f.writelines(json.dumps({**s, "filtered_resps": s["resps"][0]}) + "\n" for s in samples)
    results = {"results": {task: {}}, "mipo_bench": {"model_spec": str(model_path)}, "samples": {task: samples}}
    (where / "eval_results.json").write_text(json.dumps(results))
    manifest = {"stage": "eval", "status": "complete", "model": str(model_path), "tasks": [task], "label": label}
    (where / "eval.manifest.json").write_text(json.dumps(manifest))
    return results


def untrained_spec(tmp_path: Path, tasks: list[str], names: dict | None = None) -> str:
    """Table 1 at a scale with only its untrained rows (no training), on ``tasks``."""
    raw = yaml.safe_load(open(load_table("1").path))
    raw["scales"]["untrained"] = {"rows": ["default", "personalized"], "tasks": tasks, "task_names": names or {}}
    path = tmp_path / "table1_untrained.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture
def judged_reproduce(monkeypatch):
    """``reproduce`` with its evaluations written by the test and a scripted judge; returns (judge, backend specs)."""
    import mipo_bench.data
    import mipo_bench.generation
    import mipo_bench.workflows.reproduce as reproduce_module

    judge, asked = ContentJudge({"gold answer": "3"}), []
    monkeypatch.setattr(reproduce_module, "_eval", write_personalization_eval)
    monkeypatch.setattr(mipo_bench.generation, "get_backend", lambda name, model, **kw: asked.append(model) or judge)
    monkeypatch.setattr(mipo_bench.data, "load", lambda name, split, *a, **k: [])  # references are in the docs
    return judge, asked


def test_reproduce_judges_with_the_paper_judge_and_each_datasets_template(tmp_path, judged_reproduce):
    """Defects 5 and 8: a Qwen policy is judged by Qwen2.5-14B (not by itself), CA with paper_ca and the personalized
    prompt after "User:", PRISM with paper and the raw query; the summary and the table say so."""
    from mipo_bench.workflows.reproduce import reproduce

    judge, asked = judged_reproduce
    spec = untrained_spec(tmp_path, ["community_alignment", "prism"])
    policy = model_dir(tmp_path, "Qwen2.5-0.5B-Instruct", model_type="qwen2")
    summary = reproduce(spec, policy, scale="untrained", run_dir=tmp_path / "run", extras=False)
    assert set(asked) == {QWEN_JUDGE}
    assert summary["judge"]["judge"] == QWEN_JUDGE and not summary["judge"]["self_judging"]
    assert summary["judge"]["templates"] == {"community_alignment": "paper_ca", "prism": "paper"}
    assert "reference_answer" not in summary["judge"]["references"]["prism"]

    users = [m[-1]["content"] for m in judge.prompts]
    ca_query = personalized_prompt("question 0", "I like cats. I am 0 years old.")
    assert f"User: {ca_query}\n\nAssistant: personalized answer 0\n\nUser's preference: I like cats." in users
    assert "User: question 0\n\nAssistant: personalized answer 0\n\nUser's preference: I like cats." in users

    table = (tmp_path / "run" / "table.md").read_text()
    assert f"community_alignment: judged by {QWEN_JUDGE} (template paper_ca)" in table
    assert f"prism: judged by {QWEN_JUDGE} (template paper)" in table
    assert "self-judging" not in table
    assert "reference (prism): the human-chosen first-turn response" in table
    judged = json.loads((tmp_path / "run/prism/eval/default/judge/judge_summary.json").read_text())
    assert judged["template"] == "paper" and judged["judge_choice"]["judge"] == QWEN_JUDGE


def test_reproduce_marks_a_self_judged_table_and_the_user_template_wins(tmp_path, judged_reproduce):
    """A model of no paper family judges itself, and the table says so; --template applies to every task."""
    from mipo_bench.workflows.reproduce import reproduce

    judge, asked = judged_reproduce
    spec = untrained_spec(tmp_path, ["prefeval"], {"prefeval": "mipo_prefeval"})
    policy = model_dir(tmp_path, "smol", model_type="llama", vocab_size=49152)
    summary = reproduce(spec, policy, scale="untrained", run_dir=tmp_path / "run", extras=False, template="paper_mb")
    assert asked == [policy] and summary["judge"]["self_judging"]
    assert summary["judge"]["templates"] == {"prefeval": "paper_mb"}
    table = (tmp_path / "run" / "table.md").read_text()
    assert f"\njudged by {policy} (template paper_mb); self-judging\n" in table  # under the title
    assert "reference (prefeval): none: the table's reference row" in table


# --------------------------------------------------------------- defect 8: templates and the personalized prompt
def test_paper_ca_and_paper_mb_get_the_personalized_prompt_prism_the_raw_query(tmp_path):
    from mipo_bench.judging.calls import judge_items, read_samples

    path = tmp_path / "samples_mipo_multibench_1.jsonl"
    doc = {"id": "x", "prompt": "Plan a trip.", "context": "I love trains.", "preferences": ["I love trains."]}
    path.write_text(json.dumps({"doc_id": 0, "doc": doc, "resps": [["Take the train."]]}) + "\n")
    items = read_samples(path)
    assert items[0]["context"] == "I love trains."
    personalized = personalized_prompt("Plan a trip.", "I love trains.")
    expected = {
        "paper": "User: Plan a trip.\n\nAssistant: Take the train.\n\nUser's preference: I love trains.",
        "paper_ca": f"User: {personalized}\n\nAssistant: Take the train.\n\nUser's preference: I love trains.",
        "paper_mb": f"User: {personalized}\n\nAssistant: Take the train.",
    }
    for template, user in expected.items():
        judge = ContentJudge({})
        judge_items(items, judge, tmp_path / f"{template}.jsonl", template=template)
        assert [m[-1]["content"] for m in judge.prompts] == [user], template


def test_judge_cli_defaults_to_the_datasets_template(tmp_path, monkeypatch):
    from tests.test_judge import run_judge_cli, write_samples

    samples = write_samples(tmp_path / "s.jsonl", [("a", "good", None)])
    for dataset, template in (("community_alignment", "paper_ca"), ("multibench", "paper_mb"), (None, None)):
        out = tmp_path / f"o-{dataset}"
        argv = [samples, "--output", str(out)] + (["--dataset", dataset] if dataset else [])
        assert run_judge_cli(monkeypatch, ContentJudge({}), argv) == 0
        report = json.loads((out / "judge_summary.json").read_text())
        assert report["template"] == (template or "personalization_score")


# ------------------------------------------------------------------ defect 6: failed judge calls count as losses
def judged_eval(root: Path, task: str, ours: dict, theirs: dict, method=None, seed=None, **summary) -> Path:
    """An evaluation with its judge summary: ``ours`` / ``theirs`` are item scores (None: the judge failed)."""
    out = write_eval(root, task, [0] * len(ours), method, seed)
    (out / "judge").mkdir()
    report = {"judge": "some-judge", "template": "paper_ca", **summary, "win_rate": compare(ours, theirs)}
    (out / "judge" / "judge_summary.json").write_text(json.dumps(report))
    return out


REFERENCE = {"a": 3.0, "b": 3.0, "c": 3.0, "d": 3.0}


def test_unjudged_items_count_against_the_model_and_are_shown(tmp_path):
    judged_eval(tmp_path, "mipo_community_alignment", {"a": 4, "b": 4, "c": 4, "d": 2}, REFERENCE)  # 75
    ours = {"a": 4.0, "b": 3.0, "c": 2.0, "d": None}  # win, tie, loss, failed: 2 of 4 (not 2 of 3)
    judged_eval(tmp_path, "mipo_community_alignment", ours, REFERENCE, "mipo", 1)
    spec = load_table("1").at_scale("paper")
    spec.tasks = {"community_alignment": "mipo_community_alignment"}
    built = build_table(spec, collect([tmp_path])[0])
    rows = {label: cells for _, label, cells in built.rows}
    mipo = rows["+ MIPO"]["community_alignment"]
    assert mipo.mean == pytest.approx(50.0) and (mipo.unjudged, mipo.items) == (1, 4)
    assert rows["+ Personalized Prompting"]["community_alignment"].unjudged == 0
    markdown = render(built, "markdown")
    assert "| + MIPO | 50.00\u2020 **-25.00** |" in markdown
    assert "| + Personalized Prompting | 75.00 |" in markdown
    assert "\u2020 + MIPO / community_alignment: 1 of 4 items unjudged" in markdown
    assert "50.00$^{\\dagger}$ \\textcolor{red}{-25.00}" in render(built, "latex")
    csv = render(built, "csv").splitlines()
    assert csv[0].endswith(",delta,unjudged,items") and csv[-1].endswith(",-25.0,1,4")


def test_a_judged_table_without_failures_has_no_marks_or_notes(tmp_path):
    judged_eval(tmp_path, "mipo_community_alignment", {"a": 4, "b": 4, "c": 4, "d": 2}, REFERENCE)
    spec = load_table("1").at_scale("paper")
    spec.tasks = {"community_alignment": "mipo_community_alignment"}
    markdown = render(build_table(spec, collect([tmp_path])[0]), "markdown")
    caption = "judged by some-judge (template paper_ca)\n\nreference (community_alignment): the annotator's"
    assert caption in markdown  # under the title and n
    table, legend = markdown.split("| + Personalized Prompting | 75.00 |\n")
    assert legend.startswith("\nDeltas against") and "\u2020 + " not in legend  # no note under the table
    assert "\u2020" not in markdown and "\u2021" not in markdown


# ----------------------------------------------------------------------------- defect 7: Table 6's messages
CRITIC_RECORDS = [
    {
        "id": "r1",
        "prompt": "Plan a trip.",
        "context": "I love trains. I hate planes.",
        "preferences": ["I love trains.", "I hate planes."],
        "chosen": "Take the night train.",
        "rejected": "Fly there.",
    }
]


@pytest.fixture
def critic_judge(monkeypatch):
    import mipo_bench.data
    import mipo_bench.data.contexts
    import mipo_bench.judging.samples

    judge = ContentJudge({"night train": "4", "Fly there": "2"})
    monkeypatch.setattr(mipo_bench.judging.samples, "judge_backend", lambda name, model, batch_size=16: judge)
    monkeypatch.setattr(mipo_bench.data, "eval_docs", lambda name, protocol="paper": CRITIC_RECORDS)
    monkeypatch.setattr(mipo_bench.data.contexts, "contexts_path", lambda name: None)
    return judge


def test_table6_defaults_to_each_datasets_paper_template(tmp_path, critic_judge):
    from mipo_bench.measuring.critic_accuracy import critic_table

    summary = critic_table(load_table("6"), {"limit": 200}, "critic", tmp_path)
    assert summary["templates"] == {"community_alignment": "paper_ca", "prism": "paper"}
    assert summary["results"]["prism"]["strict"] == 100.0
    users = {m[-1]["content"] for m in critic_judge.prompts}
    personalized = personalized_prompt("Plan a trip.", "I love trains. I hate planes.")
    assert f"User: {personalized}\n\nAssistant: Fly there.\n\nUser's preference: I hate planes." in users  # CA
    assert "User: Plan a trip.\n\nAssistant: Fly there.\n\nUser's preference: I hate planes." in users  # PRISM


@pytest.mark.parametrize("template", ["rlaif_critic", "rlaif_reward"])
def test_table6_measures_the_rlaif_critic_on_request(tmp_path, critic_judge, template):
    from mipo_bench.workflows.reproduce import reproduce

    summary = reproduce("table6", "critic", scale="paper", run_dir=tmp_path, template=template)
    assert summary["templates"] == {"community_alignment": template, "prism": template}
    assert summary["results"]["prism"]["strict"] == 100.0 and summary["results"]["prism"]["unjudged"] == 0
    users = {m[-1]["content"] for m in critic_judge.prompts}
    if template == "rlaif_critic":  # the guarded judges/ variant: one call per itemized preference
        guarded = "User preference: I hate planes.\nUser: Plan a trip.\nAssistant: <response>"
        assert any(u.startswith(guarded) for u in users)
    else:  # the RLAIF reward's own message: one user message, the whole context, once per response
        assert len(critic_judge.prompts) == 4 and all(len(m) == 1 for m in critic_judge.prompts)
        reward = "User preference: I love trains. I hate planes. User: Plan a trip. Assistant:Fly there."
        assert any(reward in u for u in users)


# ------------------------------------------------------------------- defect 12: deltas, highlights, seeds
def test_deltas_print_unhighlighted_and_highlight_only_above_3_points(tmp_path):
    write_eval(tmp_path, "mipo_arc_easy", _scores(50, 100))  # base 50
    write_eval(tmp_path, "mipo_arc_challenge", _scores(20, 100))  # base 20
    write_eval(tmp_path, "mipo_arc_easy", _scores(53, 100), "sft", 1)  # +3.00: not more than 3, not highlighted
    write_eval(tmp_path, "mipo_arc_challenge", _scores(22, 100), "sft", 1)  # +2.00: printed, not highlighted
    write_eval(tmp_path, "mipo_arc_easy", _scores(54, 100), "mipo", 1)  # +4.00: highlighted
    write_eval(tmp_path, "mipo_arc_challenge", _scores(20, 100), "mipo", 1)  # 0: no delta printed
    built = build_table(load_table("2").at_scale("demo"), collect([tmp_path])[0])
    markdown = render(built, "markdown")
    assert "| + SFT | 53.00 +3.00 | 22.00 +2.00 | 37.50 +2.50 |" in markdown
    assert "| + MIPO (Ours) | 54.00 **+4.00** | 20.00 | 37.00 +2.00 |" in markdown
    latex = render(built, "latex")
    assert "53.00 +3.00 & 22.00 +2.00" in latex and "54.00 \\textcolor{blue}{+4.00} & 20.00 &" in latex


def test_a_cell_missing_a_seed_says_so(tmp_path):
    write_eval(tmp_path, "mipo_arc_easy", _scores(10))
    for seed in (1, 2, 3):
        write_eval(tmp_path, "mipo_arc_easy", _scores(12), "mipo", seed)
    for seed in (1, 2):  # SFT lost its third seed
        write_eval(tmp_path, "mipo_arc_easy", _scores(10), "sft", seed)
    spec = load_table("2").at_scale("demo")
    spec.tasks = {"arc_easy": "mipo_arc_easy"}
    spec.average = False
    built = build_table(spec, collect([tmp_path])[0])
    rows = {label: cells for _, label, cells in built.rows}
    assert rows["+ SFT"]["arc_easy"].of_seeds == 3 and rows["+ MIPO (Ours)"]["arc_easy"].of_seeds is None
    assert rows[MODEL]["arc_easy"].of_seeds is None  # the untrained model is one run by design
    markdown = render(built, "markdown")
    assert "| + SFT | 50.00 ± 0.00\u2021 |" in markdown and "| + MIPO (Ours) | 60.00 ± 0.00 **+10.00** |" in markdown
    assert "\n\u2021 + SFT / arc_easy: n=2 of 3 seeds\n" in markdown  # the notes, before the legend


def test_table6_counts_a_failed_critic_call_as_a_miss_over_every_pair():
    """Before: strict and tie-tolerant accuracy were divided by the pairs judged on both sides; the scripts count a
    pair whose critic reply did not parse as wrong (prism.py `evaluate`: NaN compares false), over all n."""
    from mipo_bench.measuring.critic_accuracy import accuracy

    chosen = {"a": 5, "b": None, "c": 3, "d": 2}
    rejected = {"a": 4, "b": 1, "c": 3, "d": 4}
    acc = accuracy(chosen, rejected)
    assert (acc["n"], acc["judged"], acc["unjudged"], acc["ties"]) == (4, 3, 1, 1)
    assert acc["strict"] == 25.0 and acc["tie_tolerant"] == 50.0  # 1 of 4 and 2 of 4 (before: 1 of 3, 2 of 3)
