"""``mutual_information``: the paper's MI reward (§5.2, "PPO (MI)"), log pi(y | x, c) - log pi(y | x).

For personalization, x, c is the row's ``prompt`` (the query with the user's context) and x its ``base_prompt`` (the
same query without it); on general tasks ``base_prompt`` is another prompt x' (PROMPTS rows, training/base.py). Both
log-probs are summed over the completion's tokens (its end-of-turn token included), each prompt rendered with the
chat template and the generation prompt exactly as the trainer rendered it for generation, and the completion scored
as the token ids the policy generated (TRL's ``completion_ids``; the decoded text, re-tokenized, when absent). The
completion attends to its prompt as in any forward pass. The released code did otherwise (PROTOCOL.md §7): raw strings
with no chat template, and an attention mask of 0 on the prompt tokens, so its "log pi(y | x, c)" never saw x or c;
we do not copy that.

The scorer is either the policy being trained (``scorer: policy``, the paper's "under the learned policy" and the
released code's current actor) or the frozen initial model (``scorer: reference``). The trainer builder binds it once
the trainer exists (:meth:`MutualInformationReward.bind`). Scoring runs in eval mode under ``torch.no_grad()`` in fp32
(logits upcast; the policy's master weights are fp32) and puts the model back in the mode it was in.
"""

from __future__ import annotations

from . import REWARDS, RewardFunction, column, completion_text, is_chat


class LogProbScorer:
    """Summed log-probabilities of responses under chat prompts, batched, for one causal LM.

    Args:
        tokenizer: the policy's tokenizer (its chat template renders the prompts).
        model: the model to score with; None until :meth:`bind`.
        batch_size: sequences per forward pass.

    Each batch is left-padded (position ids count real tokens only, as generation does) so every response ends at the
    last position, and only the response positions' logits are computed (``logits_to_keep``).
    """

    def __init__(self, tokenizer, model=None, batch_size: int = 4):
        self.tokenizer = tokenizer
        self.model = model
        self.batch_size = max(1, int(batch_size))
        pad = tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else tokenizer.eos_token_id

    def bind(self, model) -> None:
        self.model = model

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """The prompt's tokens as the trainer tokenizes it for generation (chat template + generation prompt)."""
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def response_ids(self, response) -> list[int]:
        if isinstance(response, str):
            return list(self.tokenizer(response, add_special_tokens=False)["input_ids"])
        return [int(t) for t in response]

    def logprobs(self, prompts: list[list[dict]], responses: list) -> list[float]:
        """``log pi(response_i | prompt_i)`` for each pair; a response is token ids or text (tokenized without special
        tokens); an empty response scores 0.0."""
        import torch

        if self.model is None:
            raise RuntimeError("LogProbScorer has no model: bind(model) first (the trainer builder does)")
        sequences = [(self.prompt_ids(p), self.response_ids(r)) for p, r in zip(prompts, responses, strict=True)]
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i][0]) + len(sequences[i][1]))
        out = [0.0] * len(sequences)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    for i, value in zip(chunk, self._batch([sequences[i] for i in chunk])):
                        out[i] = value
        finally:
            self.model.train(was_training)
        return out

    def _batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        import torch
        from trl.trainer.utils import selective_log_softmax

        longest_response = max(len(r) for _, r in pairs)
        if longest_response == 0:
            return [0.0] * len(pairs)
        device = next(self.model.parameters()).device
        length = max(len(p) + len(r) for p, r in pairs)
        ids = torch.full((len(pairs), length), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), length), dtype=torch.long)
        response_mask = torch.zeros((len(pairs), longest_response), dtype=torch.float32)
        for row, (prompt, response) in enumerate(pairs):
            tokens = prompt + response
            ids[row, length - len(tokens) :] = torch.tensor(tokens)
            mask[row, length - len(tokens) :] = 1
            if response:
                response_mask[row, longest_response - len(response) :] = 1.0
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            logits_to_keep=longest_response + 1,
            use_cache=False,
        ).logits[:, :-1]
        token_logps = selective_log_softmax(logits.float(), ids[:, -longest_response:].to(device))
        return (token_logps.cpu() * response_mask).sum(-1).tolist()


@REWARDS.register("mutual_information")
class MutualInformationReward(RewardFunction):
    """log pi(y | prompt) - log pi(y | base_prompt), summed over the completion's tokens (Eq. 13), or their mean.

    The sum is the true conditional MI of Eq. 13. The released code computed it with the prompt masked out of the
    attention, so the response saw nothing of either prompt and the term was ~0: the paper's MI rows therefore rest on
    a near-zero MI reward, and this one is not comparable with them. Summed over up to 256 tokens it also swamps the
    critic's 0-1 score in ``rlaif_mi``; ``per_token`` divides it by the completion's length to keep both on a scale.

    Args:
        scorer: any object with ``logprobs(prompts, responses) -> list[float]`` (a :class:`LogProbScorer`).
        per_token: divide each row's MI by its completion's token count (``train.mi_per_token``).

    Columns: ``base_prompt`` (required: the chat without the user's context, or another prompt x'). A row whose
    ``prompt`` or ``base_prompt`` is not a chat gets None (not applicable). ``failures`` stays 0: every completion,
    even an empty one (MI 0), has a log-prob.
    """

    name = "mutual_information"
    required_columns = ("base_prompt",)

    def __init__(self, scorer, per_token: bool = False):
        super().__init__()
        self.scorer = scorer
        self.per_token = per_token

    @classmethod
    def from_settings(cls, settings, ctx, tokenizer) -> "MutualInformationReward":
        scorer = LogProbScorer(tokenizer, batch_size=settings.scorer_batch_size)
        return cls(scorer, per_token=getattr(settings, "mi_per_token", False))

    def bind(self, model) -> None:
        """Score with ``model`` from now on (the policy being trained, or the frozen initial model)."""
        self.scorer.bind(model)

    def score(self, prompts, completions, completion_ids, columns) -> list[float | None]:
        n = len(completions)
        base_prompts = column(columns, "base_prompt", n)
        ids_usable = (
            isinstance(completion_ids, (list, tuple))
            and len(completion_ids) == n
            and all(isinstance(ids, (list, tuple)) for ids in completion_ids)
        )
        rows = [i for i in range(n) if is_chat(prompts[i]) and is_chat(base_prompts[i])]
        if not rows:
            return [None] * n
        responses = [completion_ids[i] if ids_usable else completion_text(completions[i]) for i in rows]
        scores = self.scorer.logprobs(
            [prompts[i] for i in rows] + [base_prompts[i] for i in rows], responses + responses
        )
        rewards: list[float | None] = [None] * n
        for k, i in enumerate(rows):
            mi = float(scores[k] - scores[len(rows) + k])
            if self.per_token:
                tokens = len(responses[k]) if ids_usable else len(self.scorer.response_ids(responses[k]))
                mi = mi / tokens if tokens else 0.0
            rewards[i] = mi
        return rewards
