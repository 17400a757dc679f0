import json

import pytest

from mipo_bench import data
from mipo_bench.data import DataFormatError
from mipo_bench.data.mmlu import SUBJECTS


@pytest.mark.parametrize(
    "name,split,count",
    [
        ("gsm8k", "train", 7473),
        ("gsm8k", "test", 1319),
        ("svamp", "train", 700),
        ("svamp", "test", 300),
        ("arc_easy", "train", 2251),
        ("arc_easy", "test", 2376),
        ("arc_challenge", "train", 1119),
        ("arc_challenge", "test", 1172),
        ("mmlu", "test", 14042),
        ("mmlu", "validation", 1531),
        ("mmlu", "dev", 285),
    ],
)
def test_mirror_counts(mirror, name, split, count):
    records = data.load(name, split, mirror)
    assert len(records) == count
    assert len({r["id"] for r in records}) == count  # ids are unique
    for r in records[:50]:
        assert r["question"] and r["answer"]


def test_gsm8k_gold_is_the_number_after_hashes(mirror):
    first = data.load("gsm8k", "test", mirror)[0]
    assert first["answer"] == "18" and first["choices"] is None and "Janet" in first["question"]


def test_svamp_split_is_fixed_and_disjoint(mirror):
    train, test = data.load("svamp", "train", mirror), data.load("svamp", "test", mirror)
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    assert [r["id"] for r in test] == [r["id"] for r in data.load("svamp", "test", mirror)]
    # float answers are normalized: 51.0 -> "51"
    assert all(not r["answer"].endswith(".0") for r in train + test)
    chal1 = next(r for r in train + test if r["id"] == "chal-1")
    assert chal1["answer"] == "51" and chal1["question"].endswith("How much do you have to pay to buy each pack?")


def test_arc_keeps_numeric_labels_and_odd_choice_counts(mirror):
    records = data.load("arc_easy", "test", mirror) + data.load("arc_challenge", "test", mirror)
    numeric = [r for r in records if r["choices"][0]["label"] == "1"]
    assert numeric and all(r["answer"] in {"1", "2", "3", "4", "5"} for r in numeric)
    assert {len(r["choices"]) for r in records} >= {3, 4, 5}


def test_mmlu_subjects_and_train_split(mirror):
    test = data.load("mmlu", "test", mirror)
    assert {r["subject"] for r in test} == set(SUBJECTS) and len(SUBJECTS) == 57
    assert all(r["answer"] in "ABCD" and len(r["choices"]) == 4 for r in test)
    assert len(data.load("mmlu", "train", mirror)) == 285 + 1531


@pytest.mark.parametrize(
    "name,n",
    [(k, s.eval_size) for k, s in data.DATASETS.items() if s.kind != data.PERSONALIZATION or k == "prefeval"],
)
def test_paper_protocol_samples_are_fixed(mirror, name, n):
    docs = data.eval_docs(name, "paper", mirror)
    assert len(docs) == n
    assert [d["id"] for d in docs] == [d["id"] for d in data.eval_docs(name, "paper", mirror)]
    assert len(data.eval_docs(name, "full", mirror)) == len(data.load(name, "test", mirror))


def test_mmlu_paper_sample_is_the_pandas_draw_over_the_test_split(mirror):
    """One task of 200 items drawn like the other scripts' samples, on the test split in subject order."""
    import pandas as pd

    test = data.load("mmlu", "test", mirror)
    order = pd.DataFrame({"i": range(len(test))}).sample(n=200, random_state=42, replace=False)["i"].tolist()
    docs = data.eval_docs("mmlu", "paper", mirror)
    assert [d["id"] for d in docs] == [test[i]["id"] for i in order]
    assert len({d["subject"] for d in docs}) > 40  # spread over the subjects (not one block of the file)


def test_train_prompts_default_to_paper_counts(mirror):
    assert len(data.train_prompts("gsm8k", data_dir=mirror)) == 7405  # the scripts' '.'-filtered train split
    assert len(data.train_prompts("svamp", data_dir=mirror)) == 1400  # 700 SVAMP + 700 GSM8K rows
    assert len(data.train_prompts("arc_easy", 10, data_dir=mirror)) == 10


# --- malformed mirrors: every error names the file and the line -------------------------------------


def _write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_bad_json_line_is_named(tmp_path):
    good = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"})
    path = _write(tmp_path, "gsm8k/test.jsonl", f"{good}\n{good}\n{{not json\n")
    with pytest.raises(DataFormatError) as err:
        data.load("gsm8k", "test", tmp_path)
    assert err.value.path == str(path) and err.value.line == 3 and f"{path}:3" in str(err.value)


def test_gsm8k_without_final_answer_is_named(tmp_path):
    _write(tmp_path, "gsm8k/test.jsonl", json.dumps({"question": "q", "answer": "no final answer"}) + "\n")
    with pytest.raises(DataFormatError, match=r"test.jsonl:1: .*####"):
        data.load("gsm8k", "test", tmp_path)


def test_missing_field_is_named(tmp_path):
    row = {"id": "x", "question": {"stem": "s", "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}]}}
    _write(tmp_path, "arc/ARC-Easy-Test.jsonl", json.dumps({**row, "answerKey": "A"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataFormatError, match=r"ARC-Easy-Test.jsonl:2: missing field 'answerKey'"):
        data.load("arc_easy", "test", tmp_path)


def test_arc_answer_key_must_be_a_label(tmp_path):
    row = {
        "id": "x",
        "answerKey": "E",
        "question": {"stem": "s", "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}]},
    }
    _write(tmp_path, "arc/ARC-Challenge-Test.jsonl", json.dumps(row) + "\n")
    with pytest.raises(DataFormatError, match=r":1: answerKey 'E'"):
        data.load("arc_challenge", "test", tmp_path)


def test_mmlu_wrong_column_count_is_named(tmp_path):
    _write(tmp_path, "mmlu/test/anatomy_test.csv", 'q,a,b,c,d,A\n"q2",a,b,c,B\n')
    with pytest.raises(DataFormatError, match=r"anatomy_test.csv:2: expected 6 columns"):
        data.mmlu.from_mirror(tmp_path, "test", ("anatomy",))


def test_svamp_non_numeric_answer_is_named(tmp_path):
    rows = [
        {"ID": "a", "Body": "b", "Question": "q?", "Answer": 3.0},
        {"ID": "b", "Body": "b", "Question": "q?", "Answer": "many"},
    ]
    _write(tmp_path, "svamp/SVAMP.json", json.dumps(rows))
    with pytest.raises(DataFormatError, match=r"SVAMP.json:2: Answer is not a number"):
        data.load("svamp", "test", tmp_path)


def test_missing_file_names_the_path(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    with pytest.raises(DataFormatError, match=r"gsm8k/train.jsonl: file not found"):
        data.load("gsm8k", "train", tmp_path)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("nope", "test")
    with pytest.raises(ValueError, match="splits"):
        data.load("gsm8k", "validation")
    with pytest.raises(ValueError, match="protocol"):
        data.eval_docs("gsm8k", "sometimes")


def test_prefeval_mirror(mirror):
    records = data.load("prefeval", "test", mirror)
    assert len(records) == 1000 and len({r["topic"] for r in records}) == 20
    first = records[0]
    assert first["preferences"] == [first["context"]] and first["prompt"] and first["id"].startswith("prefeval/")
    assert len(data.eval_docs("prefeval", "paper", mirror)) == 100


def test_prefeval_bad_row_is_named(tmp_path):
    _write(
        tmp_path,
        "personalization/prefeval/explicit_preference/travel.json",
        json.dumps([{"preference": "p", "question": "q"}, {"preference": "p"}]),
    )
    with pytest.raises(DataFormatError, match=r"travel.json:2: missing field 'question'"):
        data.load("prefeval", "test", tmp_path)


# --- PRISM, Community Alignment, Multifaceted-Bench: not available offline; fixtures in their published schemas ----

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def test_prism_fixture():
    records = data.load("prism", "test", FIXTURES)
    assert [r["id"] for r in records] == ["prism/c0", "prism/c1", "prism/c2"]  # c9 has no first-turn choice
    first = records[0]
    assert first["chosen"] == "short friendly answer 0" and first["rejected"] == "long formal answer 0"  # lowest score
    assert first["prompt"] == "opening prompt 0" and first["context"] is None and first["user_id"] == "user0"


def test_community_alignment_fixture():
    records = data.load("community_alignment", "test", FIXTURES)
    assert [r["id"] for r in records] == ["ca/1", "ca/3"]  # French row and unanswered row left out
    assert records[0]["chosen"].startswith("Rinse") and records[0]["rejected"] == "Boil it."  # end marker stripped


def test_multibench_fixture_yields_one_variant_per_dimension():
    records = data.load("multibench", "test", FIXTURES)
    assert len(records) == 4 + 1
    dims = [r["dimension"] for r in records[:4]]
    assert dims == ["style", "background_knowledge", "informativeness", "harmlessness"]
    assert (
        records[1]["rubric"]["criteria"] == "criteria 1"
        and records[1]["context"] == "The user wants background_knowledge tailored."
    )
    assert set(records[0]["eligible_contexts"]) == {r["context"] for r in records[:4]}
    assert records[4]["context"] == "You write playful answers for children." and records[4]["reference"]


def test_personalization_schema_errors_name_file_and_row(tmp_path, capfd):
    _write(
        tmp_path,
        "personalization/community_alignment/community_alignment.csv",
        "conversation_id,first_turn_prompt,first_turn_response_a,first_turn_response_b,first_turn_preferred_response\n"
        "1,hi,a,b,response_a\n2,hi,a,b,response_z\n",
    )
    records = data.load("community_alignment", "test", tmp_path)  # one bad row is skipped, named, counted
    assert [r["id"] for r in records] == ["ca/1"]
    assert "community_alignment.csv: skipped 1 malformed row(s) (line 3: " in capfd.readouterr().err
    _write(
        tmp_path,
        "personalization/multifaceted_bench/multifaceted_bench.json",
        json.dumps([{"system": "s", "prompt": "p", "rubrics": [{"criteria": "c"}]}]),
    )
    with pytest.raises(DataFormatError, match=r"multifaceted_bench.json:1: malformed rubric"):
        data.load("multibench", "test", tmp_path)
    _write(tmp_path, "personalization/prism/conversations.jsonl", json.dumps({"conversation_id": "x"}) + "\n")
    with pytest.raises(DataFormatError, match=r"conversations.jsonl:1: missing field 'conversation_history'"):
        data.load("prism", "test", tmp_path)


def _mmlu_hub_from(mirror):
    """``datasets.load_dataset("cais/mmlu", "all", split=...)`` as the hub serves it (one table of every subject,
    ``choices`` a list and ``answer`` an index), built from the mirror's own rows; ``asked`` records each call."""
    asked = []

    def load_dataset(name, config, split=None, revision=None, **kwargs):
        asked.append((name, config, split, revision))
        if split == "auxiliary_train":  # RACE / ARC / OBQA / MCTest, not MMLU: never read
            return [{"question": "aux?", "subject": "", "choices": ["a", "b", "c", "d"], "answer": 0}] * 5000
        rows = data.load("mmlu", split, mirror)
        return [
            {"question": r["question"], "subject": r["subject"], "choices": [c["text"] for c in r["choices"]]}
            | {"answer": "ABCD".index(r["answer"])}
            for r in rows
        ]

    return load_dataset, asked


def test_mmlu_trains_on_the_same_questions_from_the_hub_and_the_mirror_for_every_seed(mirror, monkeypatch):
    """Before: the mirror gave dev + val (1,816), the hub 5,000 of auxiliary_train (RACE/ARC/OBQA, not MMLU),
    another 5,000 per seed. Now both give MMLU's own dev + validation questions, pinned hub revision, any seed."""
    import datasets

    from mipo_bench.data import mmlu

    load_dataset, asked = _mmlu_hub_from(mirror)
    on_mirror = {seed: data.train_prompts("mmlu", None, seed, data_dir=mirror) for seed in (42, 43)}
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.delenv("MIPO_BENCH_DATA")
    data._load_cached.cache_clear()
    try:
        on_hub = {seed: data.train_prompts("mmlu", None, seed) for seed in (42, 43)}
    finally:
        data._load_cached.cache_clear()
    assert len(on_mirror[42]) == 285 + 1531
    for seed in (42, 43):
        assert on_hub[seed] == on_mirror[seed] == on_mirror[42]
    assert {a[2] for a in asked} == {"dev", "validation"} and {a[3] for a in asked} == {mmlu.HUB_REVISION}
