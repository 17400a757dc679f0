"""The online methods' reward functions (mipo_bench.rewards), called the way TRL's GRPOTrainer calls them."""

import pytest
import torch

from mipo_bench.generation import Backend
from mipo_bench.rewards import REWARDS
from mipo_bench.rewards.critic import (
    MATH_RUBRIC,
    MCQ_RUBRIC,
    REWARD_SUFFIX,
    CriticReward,
    RubricJudgeReward,
    parse_paper_reward,
)
from mipo_bench.rewards.mutual_information import LogProbScorer, MutualInformationReward
from mipo_bench.rewards.verifiable import ExactMatchReward


def chat(text):
    return [{"role": "user", "content": text}]


def said(text):
    return [{"role": "assistant", "content": text}]


def call(reward, completions, **columns):
    """One TRL-style call: the same prompt for every completion, ``columns`` repeated per completion."""
    n = len(completions)
    batch = {k: [v] * n for k, v in columns.items()}
    logged = {}
    rewards = reward(
        prompts=[chat("Q")] * n,
        completions=completions,
        completion_ids=None,
        trainer_state=None,
        log_extra=lambda *a: None,
        log_metric=lambda name, value: logged.__setitem__(name, value),
        **batch,
    )
    return rewards, logged


def test_registry_names_every_reward():
    assert {"rlvr_exact_match", "rlvr_judged", "rlaif_critic", "mutual_information"} <= set(REWARDS)
    assert ExactMatchReward().__name__ == "rlvr_exact_match"
    with pytest.raises(ValueError, match="did you mean 'rlaif_critic'"):
        REWARDS.get("rlaif_critc")


def test_exact_match_math_uses_the_paper_extraction_and_gold():
    reward = ExactMatchReward()
    gsm = {"answer": "-5", "paper_answer": "5", "dataset": "gsm8k"}  # the scripts' gold drops the sign, as they read
    completions = [
        said("6 - 11 = -5\n#### -5"),  # right (read as 5 against the paper gold 5)
        said("#### 6"),  # wrong
        said("The answer is -5"),  # no marker: malformed
        said(""),  # empty
        said("#### no number here"),  # marker, no number
        "#### 5",  # a plain-text completion
        [{"role": "assistant"}],  # a message without content
        None,  # not a completion at all
    ]
    rewards, logged = call(reward, completions, **gsm)
    assert rewards == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert reward.calls == 8 and reward.failures == 5 and logged["rlvr_exact_match/failure_rate"] == 5 / 8
    # SVAMP-style row: no paper_answer, a gold written as a float
    rewards, _ = call(ExactMatchReward(), [said("#### 7"), said("#### 7.5"), said("#### 1,000")], answer="7.0")
    assert rewards == [1.0, 0.0, 0.0]
    rewards, _ = call(ExactMatchReward(), [said("#### 1,000")], answer="1000", dataset="svamp")
    assert rewards == [0.0]  # the paper's regex reads "1" from "1,000"


def test_exact_match_multiple_choice():
    reward = ExactMatchReward()
    arc = {"answer": "C", "dataset": "arc_easy", "choices": [{"label": x, "text": x} for x in "ABCD"]}
    completions = [
        said("Reasoning... The answer is: C"),
        said("The answer is: B"),
        said("C"),  # no "the answer is"
        said("the answer is (c)"),  # lowercase is not an option letter for the paper's regex
        said("The answer is: C. Actually the answer is B"),  # the FIRST marker counts
        said("THE ANSWER IS C"),
    ]
    rewards, _ = call(reward, completions, **arc)
    assert rewards == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert reward.failures == 2
    five = {"answer": "E", "choices": [{"label": x, "text": x} for x in "ABCDE"]}  # kind from the options
    assert call(ExactMatchReward(), [said("The answer is E"), said("The answer is D")], **five)[0] == [1.0, 0.0]
    # no dataset and no options: a letter gold means multiple choice
    assert call(ExactMatchReward(), [said("The answer is: A")], answer="A")[0] == [1.0]


def test_exact_match_row_without_gold_is_not_applicable():
    rewards, _ = call(ExactMatchReward(), [said("#### 3")], answer=None)
    assert rewards == [None]


class FixedJudge(Backend):
    """Replies by completion: the reply list of the first key found in the judge message; records every message."""

    def __init__(self, replies):
        super().__init__("fixed-judge")
        self.replies, self.sent = replies, []

    def generate(self, prompts, params, seeds=None):
        out = []
        for messages in prompts:
            self.sent.append(messages)
            text = messages[-1]["content"]
            key = next(k for k in self.replies if k in text)
            attempt = sum(1 for m in self.sent if m == messages) - 1
            out.append([self.replies[key][min(attempt, len(self.replies[key]) - 1)]])
        return out


def test_paper_reward_parser_reads_the_first_number_in_range():
    assert parse_paper_reward("4") == 4.0 and parse_paper_reward("Score: 4.5/5") == 4.5
    assert parse_paper_reward("I'd say 3, maybe 4") == 3.0
    for bad in ["great", "", "10", "-3", "0", None]:
        assert parse_paper_reward(bad) is None


def test_judged_rlvr_sends_the_ground_truth_rubric_and_counts_unparseable_replies():
    judge = FixedJudge({"ALPHA": ["4"], "BETA": ["The response is fine"], "GAMMA": ["Score: 5"], "DELTA": ["10"]})
    reward = RubricJudgeReward(judge, max_new_tokens=8)
    solution = "6 * 7 = 42\n#### 42"
    gsm = {"answer": "42", "dataset": "gsm8k", "solution": solution}
    rewards, logged = call(reward, [said(" ALPHA #### 42 "), said("BETA"), said("GAMMA"), said("DELTA")], **gsm)
    assert rewards == [0.8, 0.0, 1.0, 0.0]
    assert (reward.calls, reward.failures) == (4, 2) and logged["rlvr_judged/failure_rate"] == 0.5
    first = judge.sent[0]
    assert len(first) == 1 and first[0]["role"] == "user"  # one user message, no system message (the released code)
    rubric = MATH_RUBRIC.format(correct_response=solution, prompt="Q")
    assert first[0]["content"] == rubric.strip() + "ALPHA #### 42" + REWARD_SUFFIX
    assert first[0]["content"].endswith(
        "Assistant:ALPHA #### 42 Only output one score between 1 and 5 and do not give any explanation. Score: "
    )
    # multiple choice: the ARC rubric with the gold letter; SVAMP: equation + "#### N"
    arc_judge = FixedJudge({"": ["2"]})
    rewards, _ = call(RubricJudgeReward(arc_judge), [said("The answer is: B")], answer="C", dataset="arc_easy")
    assert rewards == [0.4]
    assert arc_judge.sent[0][0]["content"].startswith(MCQ_RUBRIC.format(correct_answer="C", prompt="Q").strip())
    svamp_judge = FixedJudge({"": ["5"]})
    call(RubricJudgeReward(svamp_judge), [said("x")], answer="8", dataset="svamp", equation="( 3 + 5 )")
    assert "Here's the correct response: ( 3 + 5 )\n#### 8\n\nGive a score" in svamp_judge.sent[0][0]["content"]


def test_rlaif_critic_uses_the_paper_instruction_and_counts_failures():
    judge = FixedJudge({"GOOD": ["5"], "BAD": ["n/a"]})
    reward = CriticReward(judge)
    columns = {"context": "I love cats.", "query": "Suggest a pet."}
    rewards, _ = call(reward, [said("GOOD cats"), said("BAD"), said("GOOD again")], **columns)
    assert rewards == [1.0, 0.0, 1.0] and (reward.calls, reward.failures) == (3, 1)
    assert list(reward.failed_replies) == ["n/a"]
    text = judge.sent[0][0]["content"]
    assert text.startswith("You are a helpful assistant, that evaluates another assistant's response")
    assert text.endswith(
        "Only respond with a number between 1 and 5 and do not provide an explanation. User preference: I love cats. "
        "User: Suggest a pet. Assistant:GOOD cats" + REWARD_SUFFIX
    )
    # the paper decoding: sampled at T=0.1 / top-p 0.9, asked once, budget capped
    assert (reward.decoding.temperature, reward.decoding.top_p, reward.decoding.retries) == (0.1, 0.9, 0)
    assert CriticReward(judge, max_new_tokens=None).decoding.max_new_tokens == 1256
    # a row without a context is not applicable: no judge call, no failure
    rewards, _ = call(CriticReward(judge), [said("GOOD")], context=None, query="q")
    assert rewards == [None]


def test_critic_with_a_judges_template_retries_and_quotes_the_completion():
    judge = FixedJudge({"RETRY": ["hmm", "Score: 3"], "NEVER": ["x", "y", "z"]})
    reward = CriticReward(judge, template="rlaif_critic", retries=1)
    rewards, _ = call(reward, [said("RETRY"), said("NEVER")], context="vegan", query="dinner?")
    assert rewards == [0.6, 0.0] and reward.failures == 1 and reward.stats()["retried"] == 2
    system, user = judge.sent[0]
    assert system["role"] == "system" and "<response>\nRETRY\n</response>" in user["content"]


class WordOverlapScorer:
    """A stub log-prob model: each response word costs 1 nat, or nothing when the prompt mentions it."""

    def __init__(self):
        self.seen = []

    def logprobs(self, prompts, responses):
        self.seen.append((prompts, responses))
        out = []
        for prompt, response in zip(prompts, responses):
            words = prompt[-1]["content"].lower().replace(".", "").split()
            out.append(-float(sum(w not in words for w in response.lower().split())))
        return out


def test_mutual_information_prefers_the_response_that_only_fits_the_context():
    scorer = WordOverlapScorer()
    reward = MutualInformationReward(scorer)
    prompt = chat("Recommend a pet. My context: I live in a tiny flat and love cats.")
    base = chat("Recommend a pet.")
    completions = [said("a cat suits a tiny flat"), said("a pet is nice"), said("")]
    rewards = reward(prompts=[prompt] * 3, completions=completions, base_prompt=[base] * 3)
    fitted, generic, empty = rewards
    assert fitted > generic and fitted == 2.0 and generic == 0.0 and empty == 0.0
    prompts, responses = scorer.seen[0]
    assert prompts == [prompt] * 3 + [base] * 3 and responses == ["a cat suits a tiny flat", "a pet is nice", ""] * 2
    # unusable completion ids: the completion text is scored instead
    reward(prompts=[prompt], completions=completions[:1], completion_ids=[None], base_prompt=[base])
    assert scorer.seen[-1][1] == ["a cat suits a tiny flat"] * 2
    # a row whose base prompt is missing or not a chat is not applicable
    assert reward(prompts=[prompt, prompt], completions=completions[:2], base_prompt=[None, "text"]) == [None, None]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from mipo_bench.core.models import load_model

    model, tokenizer = load_model(tiny_model_dir, dtype=torch.float32, device="cpu")
    model.train()
    return model, tokenizer


def test_real_scorer_matches_a_hand_computation_and_ignores_padding(tiny):
    model, tokenizer = tiny
    prompt = chat("Hello, how are you?")
    response = tokenizer("I am fine, thanks.", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = list(ids["input_ids"]) + response
    with torch.no_grad():
        logps = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    hand = sum(logps[t - 1, ids[t]].item() for t in range(len(ids) - len(response), len(ids)))

    scorer = LogProbScorer(tokenizer, model, batch_size=3)
    alone = scorer.logprobs([prompt], [response])[0]
    assert alone == pytest.approx(hand, abs=1e-4)
    longer = chat("A much longer prompt, so that the first one is padded in the batch. " * 3)
    batch = scorer.logprobs([longer, prompt, prompt], [response + response, response, []])
    assert batch[1] == pytest.approx(hand, abs=1e-4) and batch[2] == 0.0
    # text is tokenized without special tokens: the same tokens minus the end-of-turn token
    without_eos = hand - logps[len(ids) - 2, ids[-1]].item()
    assert scorer.logprobs([prompt], ["I am fine, thanks."])[0] == pytest.approx(without_eos, abs=1e-4)
    assert model.training  # restored

    reward = MutualInformationReward(scorer)
    base = chat("Something else entirely.")
    mi = reward(prompts=[prompt], completions=[said("ignored")], completion_ids=[response], base_prompt=[base])[0]
    assert mi == pytest.approx(hand - scorer.logprobs([base], [response])[0], abs=1e-4)


def test_per_token_mutual_information_divides_by_the_completion_length(tiny):
    """Fix 11: Eq. 13's sum over up to 256 tokens swamps the critic's 0-1 score in rlaif_mi; the per-token option
    keeps the MI on a per-token scale (the sum divided by the completion's token count)."""
    model, tokenizer = tiny
    scorer = LogProbScorer(tokenizer, model, batch_size=2)
    prompt, base = chat("Hello, how are you?"), chat("Something else entirely.")
    response = tokenizer("I am fine, thanks.", add_special_tokens=False)["input_ids"]
    summed = MutualInformationReward(scorer)(
        prompts=[prompt], completions=[said("x")], completion_ids=[response], base_prompt=[base]
    )[0]
    per_token = MutualInformationReward(scorer, per_token=True)(
        prompts=[prompt], completions=[said("x")], completion_ids=[response], base_prompt=[base]
    )[0]
    assert per_token == pytest.approx(summed / len(response), abs=1e-6) and len(response) > 1
    text = MutualInformationReward(scorer, per_token=True)(
        prompts=[prompt], completions=[said("I am fine, thanks.")], base_prompt=[base]
    )[0]
    assert text == pytest.approx(per_token, abs=1e-4)  # text completions: their own tokens
    from mipo_bench.training.online import OnlineSettings

    assert MutualInformationReward.from_settings(OnlineSettings(mi_per_token=True), None, tokenizer).per_token
