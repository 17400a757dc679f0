"""transformers backend: batched, left-padded, prompts sorted by length (the default on CPU).

Sampling is per row: every sample draws its tokens from its own ``torch.Generator`` seeded by its request's seed
(:class:`PerRowSampler`), so a sample does not depend on the other prompts of its batch nor on where a run resumed.
Generation stops at the stop strings (a stopping criterion on the decoded tail), not only after ``max_new_tokens``.
With ``prefix_cache`` on (what judging asks for), prompts of a call that begin with the same tokens (a judged response
asked about each of its preferences) have that prefix encoded once (:mod:`.prefix_cache`).
"""

from __future__ import annotations

from .base import Backend, Messages, SamplingParams, truncate_at_stop
from .prefix_cache import DEFAULT_MIN_SHARED_PREFIX, generate_shared_prefixes
from .sampling import make_sampler, sample_seed


class HFBackend(Backend):
    """Options: ``batch_size`` (default 8), ``device``, ``dtype``, ``pad_multiple`` (default 16: each prompt is
    left-padded to a multiple of this many tokens and batched only with prompts of the same padded length, so its
    padding, hence its logits, do not depend on the batch size); ``prefix_cache`` (default false; judging turns it on:
    prompts sharing at least ``min_shared_prefix`` leading tokens, default 64, encode them once, see
    :mod:`.prefix_cache`. Off by default because a prompt's logits then depend on which other prompts share its call,
    by float rounding, and pairs / evaluation generations promise the same text whatever the batch); or pass
    ``model_obj``/``tokenizer_obj``."""

    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        self._loaded = None
        self._given = set(self.options)
        if "model_obj" in self.options:
            self._loaded = (self.options.pop("model_obj"), self.options.pop("tokenizer_obj"))
        self.batch_size = int(self.options.get("batch_size", 8))
        self.pad_multiple = int(self.options.get("pad_multiple", 16))
        self.prefix_cache = bool(self.options.get("prefix_cache", False))
        self.min_shared_prefix = int(self.options.get("min_shared_prefix", DEFAULT_MIN_SHARED_PREFIX))
        self._stop_criteria: dict[tuple, object] = {}

    def _load(self):
        """Load on first use, so a stage that turns out to be cached never pays for the model."""
        if self._loaded is None:
            from ..core.models import load_model

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
        """Explicit settings (never the model's generation_config defaults). When sampling, the draw itself is made
        by :func:`make_sampler` (per-row generators); HF's own temperature/top-p/multinomial step then only sees a
        one-hot distribution and returns that token, consuming no randomness that matters."""
        from transformers import GenerationConfig

        greedy = params.temperature <= 0
        return GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else params.temperature,
            top_p=None if greedy else params.top_p,
            top_k=None,  # params.top_k is applied by the per-row sampler
            num_beams=1,
            repetition_penalty=params.repetition_penalty or 1.0,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )

    def model_defaults(self) -> dict:
        """What the released scripts' bare ``model.generate`` still applied (:mod:`.model_defaults`), read from the
        model's files (no weights loaded: a cached stage never pays for the model), or from the in-memory model's
        generation config when one was passed (``model_obj``). Qwen2.5: top-k 20, repetition penalty 1.05;
        Llama-3.2 and SmolLM2: top-k 50 (transformers' default), 1.0."""
        if getattr(self, "_model_defaults", None) is None and self._loaded is not None and "model_obj" in self._given:
            from .model_defaults import KEYS, applied_defaults

            config = getattr(self._loaded[0], "generation_config", None)
            self._model_defaults = applied_defaults({k: getattr(config, k, None) for k in KEYS})
        return super().model_defaults()

    def _stopping(self, stop: tuple[str, ...]):
        """HF's stop-string criterion for ``stop`` (built once per stop set: it preprocesses the vocabulary)."""
        from transformers import StoppingCriteriaList, StopStringCriteria

        stop = tuple(s for s in stop if s)
        if not stop:
            return StoppingCriteriaList()
        if stop not in self._stop_criteria:
            self._stop_criteria[stop] = StopStringCriteria(self.tokenizer, list(stop))
        return StoppingCriteriaList([self._stop_criteria[stop]])

    def _batches(self, lengths: list[int]) -> list[tuple[list[int], int]]:
        """``(prompt indices, padded length)`` per batch: longest bucket first (memory peaks early), each prompt's
        padded length its own length rounded up to ``pad_multiple``, whatever the batch size."""
        m = max(self.pad_multiple, 1)
        padded = [-(-n // m) * m for n in lengths]
        order = sorted(range(len(lengths)), key=lambda i: (-padded[i], -lengths[i], i))
        batches: list[tuple[list[int], int]] = []
        for i in order:
            if batches and batches[-1][1] == padded[i] and len(batches[-1][0]) < self.batch_size:
                batches[-1][0].append(i)
            else:
                batches.append(([i], padded[i]))
        return batches

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        """``params.n`` samples per chat; sample ``k`` of chat ``i`` is drawn from ``sample_seed(seeds[i], k)``."""
        import torch

        params = params.with_model_defaults(self.model_defaults())  # as generate_cached does, for direct calls
        texts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
        ids = [self.tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        seeds = list(seeds) if seeds is not None else [params.seed] * len(texts)
        config = self._generation_config(params, params.n)
        stopping = self._stopping(tuple(params.stop))
        out: list[list[str] | None] = [None] * len(texts)
        if self.prefix_cache:
            for i, replies in generate_shared_prefixes(self, ids, params, seeds, self.min_shared_prefix).items():
                out[i] = replies
        rest = [i for i, replies in enumerate(out) if replies is None]
        for batch, padded in self._batches([len(ids[i]) for i in rest]):
            idx = [rest[b] for b in batch]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding="max_length",
                max_length=padded,
                add_special_tokens=False,
            ).to(self.lm.device)
            processors = []
            if params.temperature > 0:
                row_seeds = [sample_seed(seeds[i], k) for i in idx for k in range(params.n)]
                processors.append(
                    make_sampler(row_seeds, params.temperature, params.top_p, self.lm.device, params.top_k)
                )
            with torch.inference_mode():
                gen = self.lm.generate(
                    **enc, generation_config=config, logits_processor=processors, stopping_criteria=stopping
                )
            new = gen[:, enc.input_ids.shape[1] :]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for j, i in enumerate(idx):
                out[i] = [truncate_at_stop(t, params.stop) for t in decoded[j * params.n : (j + 1) * params.n]]
        return out  # type: ignore[return-value]

    def label_logprobs(self, prompts: list[Messages], candidates: list[str]) -> list[dict[str, float]]:
        """Log-probabilities of each single-token candidate as the first token of the assistant's reply, from the
        whole next-token distribution (``scoring: logprob`` judging: candidates "1".."5")."""
        import torch

        ids = [self.tokenizer(c, add_special_tokens=False).input_ids for c in candidates]
        if any(len(i) != 1 for i in ids):
            raise ValueError(f"logprob scoring needs labels that are one token each, got {candidates}")
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
