"""transformers backend: batched, left-padded, prompts sorted by length (the default on CPU)."""

from __future__ import annotations

from .base import Backend, Messages, SamplingParams, truncate_at_stop


class HFBackend(Backend):
    """Options: ``batch_size`` (default 8), ``device``, ``dtype``; or pass ``model_obj``/``tokenizer_obj``."""

    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        self._loaded = None
        if "model_obj" in self.options:
            self._loaded = (self.options.pop("model_obj"), self.options.pop("tokenizer_obj"))
        self.batch_size = int(self.options.get("batch_size", 8))

    def _load(self):
        """Load on first use, so a stage that turns out to be cached never pays for the model."""
        if self._loaded is None:
            from ..models import load_model

            self._loaded = load_model(self.model, dtype=self.options.get("dtype"), device=self.options.get("device"))
        lm, tokenizer = self._loaded
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return lm, tokenizer

    @property
    def lm(self):
        return self._load()[0]

    @property
    def tokenizer(self):
        return self._load()[1]

    def _generation_config(self, params: SamplingParams, n: int):
        from transformers import GenerationConfig

        greedy = params.temperature <= 0
        return GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else params.temperature,
            top_p=None if greedy else params.top_p,
            top_k=None,
            num_beams=1,
            repetition_penalty=1.0,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        import torch

        texts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
        lengths = [len(self.tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # longest first: memory peaks early
        seeds = seeds or [params.seed] * len(texts)
        config = self._generation_config(params, params.n)
        out: list[list[str] | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.lm.device)
            torch.manual_seed(seeds[idx[0]])
            with torch.inference_mode():
                gen = self.lm.generate(**enc, generation_config=config)
            new = gen[:, enc.input_ids.shape[1] :]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for j, i in enumerate(idx):
                out[i] = [truncate_at_stop(t, params.stop) for t in decoded[j * params.n : (j + 1) * params.n]]
        return out  # type: ignore[return-value]

    def next_token_logprobs(self, prompts: list[Messages], candidates: list[str]) -> list[dict[str, float]]:
        """Log-probabilities of each single-token candidate as the first token of the assistant's reply.

        Used for constrained judging (e.g. candidates "1".."5"), where a small judge model does not reliably
        write a parseable score.
        """
        import torch

        ids = [self.tokenizer(c, add_special_tokens=False).input_ids for c in candidates]
        if any(len(i) != 1 for i in ids):
            raise ValueError(f"constrained scoring needs single-token candidates, got {candidates}")
        cand = torch.tensor([i[0] for i in ids])
        texts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
        out: list[dict[str, float]] = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[start : start + self.batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.lm.device)
            # left padding: positions count real tokens only (as generate does), and the last position is real
            positions = (enc.attention_mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.lm(**enc, position_ids=positions).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)[:, cand.to(logits.device)]
            out += [dict(zip(candidates, row.tolist())) for row in logprobs]
        return out
