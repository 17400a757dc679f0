"""analysis.metrics: Self-BLEU against hand-computed values, answer entropy, paired statistics on constructed data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipo_bench.analysis.metrics import self_bleu
from mipo_bench.analysis.metrics.self_bleu import tokenize
from mipo_bench.measuring.entropy import (
    answer_context,
    answer_prefix,
    entropy,
    entropy_from_samples,
    letter_token_ids,
    option_distribution,
)
from mipo_bench.stats import (
    holm,
    mcnemar,
    paired_bootstrap,
    paired_permutation,
    paired_test,
    pooled_ci,
    pooled_paired_ci,
    ranks_from_groups,
    seed_mean_std,
    tied_groups,
)

# ---------------------------------------------------------------------------------------------------- Self-BLEU


def test_self_bleu_of_identical_responses_is_one():
    result = self_bleu(["The cat sat on the mat. It purred."] * 4)
    assert result.value == pytest.approx(1.0, abs=1e-9)


def test_self_bleu_of_disjoint_vocabularies_is_near_zero():
    responses = [" ".join(f"w{k}_{j}" for j in range(8)) for k in range(5)]
    assert self_bleu(responses).value < 0.01


def test_self_bleu_matches_a_hand_computed_value():
    # A = the cat sat on the mat (6 tokens), B = the cat sat on a mat (6), C = a dog ran (3); n = 4, method1.
    # Hypothesis A vs refs {B, C}: clipped 1-grams the(1 of 2) cat sat on mat = 5/6; 2-grams the-cat cat-sat sat-on
    #   of 5 = 3/5; 3-grams the-cat-sat cat-sat-on of 4 = 2/4; 4-grams the-cat-sat-on of 3 = 1/3; closest ref length 6
    #   = hypothesis length, BP = 1.  BLEU = (5/6 * 3/5 * 2/4 * 1/3)^(1/4) = (1/12)^(1/4).
    # Hypothesis B vs refs {A, C}: 1-grams 6/6 (the, cat, sat, on, mat from A; "a" from C); 2-grams 3/5; 3-grams
    #   2/4; 4-grams 1/3; BP = 1.  BLEU = (1 * 3/5 * 1/2 * 1/3)^(1/4) = (1/10)^(1/4).
    # Hypothesis C vs refs {A, B}: 1-grams "a" (in B) = 1/3; 2-grams 0/2 -> method1 (0 + 0.1)/2 = 0.05; 3-grams 0/1
    #   -> 0.1; 4-grams: none in a 3-token sentence, nltk's denominator is max(1, 0) = 1 -> 0.1; closest ref length
    #   6 > 3, BP = exp(1 - 6/3) = exp(-1).  BLEU = exp(-1) * (1/3 * 0.05 * 0.1 * 0.1)^(1/4) = exp(-1) (1/6000)^(1/4).
    expected = ((1 / 12) ** 0.25 + (1 / 10) ** 0.25 + math.exp(-1) * (1 / 6000) ** 0.25) / 3
    result = self_bleu(["the cat sat on the mat", "the cat sat on a mat", "a dog ran"])
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.as_dict() == {
        "value": result.value,
        "n": 4,
        "smoothing": "method1",
        "tokenizer": "treebank",
        "sample_size": 500,
        "n_responses": 3,
        "n_hypotheses": 3,
        "backend": "nltk",
        "references": "all",
        "seed": 0,
    }


def test_identical_responses_at_other_indices_are_references():
    # hypotheses 0 and 1 each find their twin among the others (1.0); hypothesis 2 shares nothing (0.0)
    result = self_bleu(["a b c d e", "a b c d e", "v w x y z"])
    assert result.value == pytest.approx(2 / 3, abs=1e-9)


def test_self_bleu_subsample_is_seeded_and_never_scores_a_hypothesis_against_itself(monkeypatch):
    import nltk.translate.bleu_score as bleu_score

    calls = []
    real = bleu_score.sentence_bleu

    def spy(references, hypothesis, *args, **kwargs):
        calls.append((references, hypothesis))
        return real(references, hypothesis, *args, **kwargs)

    monkeypatch.setattr(bleu_score, "sentence_bleu", spy)
    twins = ["one two three four five six"] * 6
    loners = [" ".join(f"u{k}_{j}" for j in range(6)) for k in range(6)]
    responses = twins + loners
    first = self_bleu(responses, sample_size=4, seed=3)
    assert first.n_hypotheses == 4 and first.n_responses == 12
    assert len(calls) == 4
    for references, hypothesis in calls:
        assert len(references) == 11  # all the others
        assert all(reference is not hypothesis for reference in references)
    assert self_bleu(responses, sample_size=4, seed=3).value == first.value
    values = {self_bleu(responses, sample_size=4, seed=seed).value for seed in range(12)}
    assert len(values) > 1  # the seed picks the hypotheses


def test_self_bleu_settings_and_errors():
    with pytest.raises(ValueError, match="got 1"):
        self_bleu(["only one"])
    with pytest.raises(ValueError, match="backend"):
        self_bleu(["a", "b"], backend="nope")
    with pytest.raises(ValueError, match="sacrebleu smoothing 'method1'"):
        self_bleu(["a", "b"], backend="sacrebleu", smoothing="method1")
    sacre = self_bleu(["the cat sat on the mat"] * 3, backend="sacrebleu")
    assert sacre.value == pytest.approx(1.0) and (sacre.tokenizer, sacre.smoothing) == ("13a", "exp")


def test_sacrebleu_backend_scores_each_response_against_the_others():
    import sacrebleu

    responses = ["the cat sat on the mat", "the cat sat on a mat", "a dog ran", "a dog ran far away"]
    others = [[r for j, r in enumerate(responses) if j != i] for i in range(len(responses))]
    expected = np.mean([sacrebleu.sentence_bleu(r, o).score / 100 for r, o in zip(responses, others)])
    assert self_bleu(responses, backend="sacrebleu").value == pytest.approx(expected, abs=1e-12)
    # untrained Punkt + nltk's Treebank tokenizer: every sentence's period is split off, no lowercasing
    assert tokenize("It works. Yes it does.") == ["It", "works", ".", "Yes", "it", "does", "."]


# ---------------------------------------------------------------------------------------------------- entropy


def test_entropy_uniform_one_hot_and_normalized():
    assert entropy([0.25] * 4) == pytest.approx(math.log(4))
    assert entropy([0.25] * 4, normalized=True) == pytest.approx(1.0)
    assert entropy([0.0, 1.0, 0.0, 0.0]) == 0.0
    assert entropy([2, 2]) == pytest.approx(math.log(2))  # counts are renormalised
    with pytest.raises(ValueError, match="non-negative"):
        entropy([0.5, -0.5, 1.0])


def test_entropy_from_samples():
    assert entropy_from_samples(["A", "A", "B", "B"]) == pytest.approx(math.log(2))
    assert entropy_from_samples(["A", "A", None, None]) == pytest.approx(math.log(2))  # no answer is a category
    assert entropy_from_samples(["C"] * 5, options=["A", "B", "C", "D"]) == 0.0
    with pytest.raises(ValueError, match="'Z'"):
        entropy_from_samples(["A", "Z"], options=["A", "B"])


def test_answer_prefix_cuts_after_the_first_marker():
    response = "B is wrong because... The answer is: C. Hmm, the answer is D"
    assert answer_prefix(response) == "B is wrong because... The answer is:"
    assert answer_prefix("so THE ANSWER IS B") == "so THE ANSWER IS"
    assert answer_prefix("No marker here.  ") == "No marker here.\n\nThe answer is:"


def test_letter_tokens_are_both_spacings(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = letter_token_ids(tokenizer, "A")
    assert sorted(ids) == sorted([tokenizer.encode("A")[0], tokenizer.encode(" A")[0]]) and len(set(ids)) == 2
    # after the instruction's marker the model's letter is the spaced form
    assert tokenizer.encode("The answer is: A")[-1] == tokenizer.encode(" A")[0]


def test_option_distribution_matches_single_prompt_forward(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    prompts = [
        answer_context(tokenizer, "Which is a mammal?\n\nA: shark\nB: whale", "Whales breathe air. The answer is: B"),
        answer_context(tokenizer, "2+2?\n\nA: 3\nB: 4\nC: 5\nD: 6", "It is four, so the answer is"),
        answer_context(tokenizer, "Pick one.\n\nA: x\nB: y\nC: z", "I cannot tell."),
    ]
    options = [["A", "B"], ["A", "B", "C", "D"], ["A", "B", "C"]]
    got = option_distribution(model, tokenizer, prompts, options, batch_size=2)  # a padded batch of 2, then 1
    assert [len(p) for p in got] == [2, 4, 3]
    for text, item_options, probs in zip(prompts, options, got):
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            last = torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
        mass = np.array([last[tokenizer.encode(x)[0]] + last[tokenizer.encode(" " + x)[0]] for x in item_options])
        np.testing.assert_allclose(probs, mass / mass.sum(), rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------------------------------- statistics


def test_paired_bootstrap_uses_shared_items_and_is_seeded():
    rng = np.random.default_rng(1)
    diffs = rng.normal(0.3, 1.0, size=400)
    base = {i: 0.0 for i in range(400)}
    other = {i: float(d) for i, d in enumerate(diffs)}
    other["extra"] = 1000.0  # not in base: ignored
    delta = paired_bootstrap(base, other, seed=5)
    assert delta.n == 400 and delta.mean == pytest.approx(diffs.mean())
    assert delta.low < delta.mean < delta.high
    # the 95% percentile interval of a mean is about ± 1.96 sd / sqrt(n)
    assert delta.high - delta.low == pytest.approx(2 * 1.96 * diffs.std(ddof=1) / 20, rel=0.2)
    assert paired_bootstrap(base, other, seed=5) == delta
    assert delta.as_dict() == {"mean": delta.mean, "low": delta.low, "high": delta.high, "n": 400}


def test_paired_bootstrap_degenerate_cases():
    constant = paired_bootstrap({1: 0.0, 2: 1.0}, {1: 0.5, 2: 1.5})
    assert (constant.mean, constant.low, constant.high, constant.n) == (0.5, 0.5, 0.5, 2)
    empty = paired_bootstrap({1: 0.0}, {2: 1.0})
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.low)


def test_mcnemar_exact_p_from_discordant_pairs():
    # 8 items only `other` gets right, 1 only `base`, 11 both right: two-sided binomial p of 8 of 9 at 1/2
    # = 2 * (C(9,8) + C(9,9)) / 2^9 = 20 / 512
    base = {i: 0.0 for i in range(8)} | {8: 1.0} | {i: 1.0 for i in range(9, 20)}
    other = {i: 1.0 for i in range(8)} | {8: 0.0} | {i: 1.0 for i in range(9, 20)}
    assert mcnemar(base, other) == pytest.approx(20 / 512)
    assert mcnemar(base, base) == 1.0
    with pytest.raises(ValueError, match=r"other\[3\] = 0.5"):
        mcnemar(base, other | {3: 0.5})


def test_paired_permutation_exact_sign_flips():
    # differences 1, 2, 3: of the 8 sign flips only +++ and --- reach |mean| >= 2, so p = 2/8
    assert paired_permutation({0: 0, 1: 0, 2: 0}, {0: 1, 1: 2, 2: 3}) == pytest.approx(0.25)
    assert paired_permutation({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}) == 1.0
    rng = np.random.default_rng(0)
    shifted = paired_permutation({i: 0.0 for i in range(60)}, {i: float(rng.normal(1, 1)) for i in range(60)})
    assert shifted < 0.001


def test_paired_test_picks_mcnemar_for_binary_scores():
    assert paired_test({0: 1, 1: 0}, {0: 1, 1: 1})[0] == "mcnemar"
    assert paired_test({0: 1, 1: 0}, {0: 1, 1: 0.5})[0] == "permutation"


def test_holm_is_monotone_and_capped():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert holm({"x": 0.5, "y": 0.6}) == {"x": 1.0, "y": 1.0}


def test_tied_groups_split_on_the_group_leader():
    # A right on all 100 items; B wrong on 4 of them; C wrong on those 4 and 4 more. McNemar: A-B 2^-3 = 0.125,
    # B-C 0.125, A-C 2^-7 = 0.0078; Holm: A-C 0.023 (significant), A-B and B-C 0.25. B is tied with A; C is tied
    # with B but differs from the group's leader A, so it starts a new group.
    a = {i: 1.0 for i in range(100)}
    b = a | {i: 0.0 for i in range(4)}
    c = a | {i: 0.0 for i in range(8)}
    groups = tied_groups({"C": c, "A": a, "B": b})
    assert groups == [["A", "B"], ["C"]]
    assert ranks_from_groups(groups) == {"A": 1, "B": 1, "C": 3}
    assert ranks_from_groups([["p", "q"], ["r"], ["s", "t"]]) == {"p": 1, "q": 1, "r": 3, "s": 4, "t": 4}
    with pytest.raises(ValueError, match="no item"):
        tied_groups({"A": {1: 1.0}, "B": {2: 1.0}})


def test_seed_mean_std_is_the_sample_std():
    mean, std = seed_mean_std([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)  # ddof=1; population std would be 0.0816
    assert seed_mean_std([0.42]) == (0.42, 0.0)


def test_pooled_ci_averages_items_over_seeds_first():
    per_seed = [{1: 1.0, 2: 0.0}, {1: 0.0, 2: 0.0, 3: 1.0}]  # item means: 0.5, 0.0, 1.0
    pooled = pooled_ci(per_seed)
    assert pooled.n == 3 and pooled.mean == pytest.approx(0.5)
    assert 0.0 <= pooled.low <= 0.5 <= pooled.high <= 1.0
    diff = pooled_paired_ci([{1: 0.0, 2: 0.0}], per_seed)  # base 0 everywhere shared: the difference is 0.5, 0.0
    assert diff.n == 2 and diff.mean == pytest.approx(0.25)
