"""Prefix-shared preference training: a prompt encoded once for all the responses scored under it.

TRL's DPOTrainer scores a pair as two rows, ``[x, y_chosen]`` and ``[x, y_rejected]``, so the prompt x (900 tokens
for the 8-shot math block) runs through the model twice, and twice more for the reference. Here each pair is one
packed row, ``[x[:-1], x[-1] y_chosen, x[-1] y_rejected]``: a shared prefix and one branch per response. Under a 4-D
attention mask a branch attends to the prefix and to itself only, and its position ids restart where the prefix ends,
so every branch token sees exactly the tokens, at exactly the positions, it sees in its own row: the log-probs are
those of the separate rows. The prompt's last token opens every branch because it is the one that predicts the
response's first token (a hidden state predicts one label); that one token per response is all the packing repeats.

The packed row is built from the unshared batch itself (the rows TRL's collator has already truncated), so
truncation is TRL's by construction. Rows of a group whose prompts differ after truncation (``keep_end`` cutting them
from the start by different amounts) share nothing: their branches are the whole rows, side by side in one packed row
(exact, no saving). ``max_length`` still caps each prompt + response as in TRL (and so the position ids); a packed row
holds up to ``2 * max_length - len(x) + 1`` tokens. The packed outputs are mapped back onto the unshared layout, so
TRL's loss, metrics and logging (``num_tokens`` counts the unshared rows' tokens, as TRL does) run unchanged.

``sdpa`` and ``eager`` attention take a custom 4-D mask as it is (``transformers.masking_utils`` returns any 4-D mask
as given; sdpa reads it as a boolean mask, eager adds it as a float one); flash attention does not, and sharing
turns itself off there, with the reason logged (:func:`unsupported_reason`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import torch
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference
from trl.trainer.utils import pad, selective_log_softmax

logger = logging.getLogger(__name__)

MASKABLE_ATTENTION = ("sdpa", "eager")
PREFIX, PAD = 0, -1  # segment ids: the shared prefix, padding; branches are 1, 2, ...


def pack_shared_prefix(input_ids, attention_mask, completion_mask, groups, pad_token_id, pad_to_multiple_of=None):
    """Pack the right-padded unshared rows ``[R, L]`` into one row per group of rows that share their prompt.

    ``groups`` lists, per packed row, the unshared row indices it holds. Returns ``input_ids``, ``position_ids``,
    ``segments`` (0 prefix, n for the n-th branch, -1 padding) and ``labels`` (``-100`` where nothing is scored),
    all ``[G, P]``, and ``index`` ``[R, L - 1]``: where in the flattened ``[G, P - 1]`` per-token outputs sits the
    prediction of each unshared row's token ``t + 1`` (meaningful where that token is scored).
    """
    lengths = attention_mask.sum(-1).tolist()
    rows = [(input_ids[r, : lengths[r]], completion_mask[r, : lengths[r]].bool()) for r in range(len(lengths))]
    columns = {"input_ids": [], "position_ids": [], "segments": [], "labels": []}
    offsets = {}  # unshared row -> (packed row, shared length, packed index of its token t >= shared minus t)
    for g, group in enumerate(groups):
        shared = shared_prefix_length([rows[r] for r in group])
        parts = {
            "input_ids": [rows[group[0]][0][:shared]],
            "position_ids": [torch.arange(shared)],
            "segments": [torch.full((shared,), PREFIX)],
            "labels": [torch.full((shared,), -100)],
        }
        start = shared
        for branch, r in enumerate(group, 1):
            ids, scored = rows[r][0][shared:], rows[r][1][shared:].clone()
            scored[0] = False  # a branch opens on a prompt token (or, sharing nothing, on a row's first token)
            offsets[r] = (g, shared, start - shared)
            parts["input_ids"].append(ids)
            parts["position_ids"].append(torch.arange(shared, lengths[r]))
            parts["segments"].append(torch.full((len(ids),), branch))
            parts["labels"].append(torch.where(scored, ids, -100))
            start += len(ids)
        for name, pieces in parts.items():
            columns[name].append(torch.cat(pieces))
    padding = {"input_ids": pad_token_id, "position_ids": 0, "segments": PAD, "labels": -100}
    packed = {name: pad(rows_, padding[name], pad_to_multiple_of=pad_to_multiple_of) for name, rows_ in columns.items()}
    width = packed["input_ids"].shape[1] - 1
    index = torch.zeros(len(rows), input_ids.shape[1] - 1, dtype=torch.long)
    for r, (g, shared, offset) in offsets.items():
        t = torch.arange(lengths[r] - 1)
        index[r, : len(t)] = g * width + t + torch.where(t >= shared, offset, 0)
    packed["index"] = index
    return packed


def shared_prefix_length(rows: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
    """Tokens the rows can share: their common prompt prefix (same tokens, unscored in every row) minus its last
    token, which each branch keeps to predict its response's first token."""
    ids, scored = rows[0]
    common = int((~scored).long().cumprod(0).sum())
    for other_ids, other_scored in rows[1:]:
        n = min(common, len(other_ids))
        common = int(((ids[:n] == other_ids[:n]) & ~other_scored[:n]).long().cumprod(0).sum())
    return max(common - 1, 0)


def attention_mask_4d(segments: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """``[G, 1, P, P]`` mask: causal, and a branch token sees the prefix and its own branch only. Padding sees only
    itself (a query with no key at all would turn its row into NaNs, which reach the weight gradients as 0 * NaN).
    Boolean (True = attend) for sdpa; additive float (0 or the dtype's minimum) for eager."""
    length = segments.shape[1]
    position = torch.arange(length, device=segments.device)
    causal = position[:, None] >= position[None, :]
    query, key = segments[:, :, None], segments[:, None, :]
    allowed = causal & (key != PAD) & ((key == PREFIX) | (key == query))
    allowed = (allowed | torch.eye(length, dtype=torch.bool, device=segments.device))[:, None]
    if attn_implementation == "sdpa":
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill(~allowed, torch.finfo(dtype).min)


def unpack(values: torch.Tensor, index: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """Per-token packed outputs ``[G, P - 1]`` in the unshared layout ``[R, L - 1]``, zero (False) where not scored."""
    return values.reshape(-1)[index].masked_fill(~scored, 0)


def shared_forward(model, shared: dict, attn_implementation: str, dtype: torch.dtype, **kwargs):
    """``model`` run on the packed rows of ``shared`` (see :func:`pack_shared_prefix`)."""
    mask = attention_mask_4d(shared["segments"], attn_implementation, dtype)
    return model(input_ids=shared["input_ids"], attention_mask=mask, position_ids=shared["position_ids"], **kwargs)


def shared_response_logps(model, shared, completion_mask, attn_implementation, dtype) -> torch.Tensor:
    """log pi(response | prompt) of every unshared row (token log-probs in fp32, summed over its response), from one
    forward over the packed rows: what ``infonce.summed_response_logps`` computes on the unshared rows."""
    logits = shared_forward(model, shared, attn_implementation, dtype, use_cache=False).logits[:, :-1]
    token_logps = selective_log_softmax(logits.float(), shared["labels"][:, 1:].clamp(min=0))
    return unpack(token_logps, shared["index"], completion_mask[:, 1:].bool()).sum(-1)


def unsupported_reason(model) -> str | None:
    """Why prefix sharing cannot run on ``model`` (None when it can): it needs an attention that takes a custom
    4-D mask, a text-only model, and no virtual tokens prepended to the sequence."""
    from peft import PeftModel

    if isinstance(model, str):
        return "the model is given by name; pass the loaded model"
    config = model.config
    attention = getattr(config, "_attn_implementation", None)
    if attention not in MASKABLE_ATTENTION:
        return f"attention implementation {attention!r} takes no custom 4-D mask (only {MASKABLE_ATTENTION} do)"
    if config.get_text_config() is not config:
        return "a vision-language model (its image tokens are placed by the processor, row by row)"
    if isinstance(model, PeftModel) and model.active_peft_config.is_prompt_learning:
        return "prompt-learning PEFT prepends virtual tokens to every row"
    return None


def add_shared_prefix_forward(model) -> None:
    """Wrap ``model.forward`` (after TRL's ``add_fused_lm_head``, like it) so that a fused-head call carrying
    ``shared_prefix`` runs on the packed rows and returns TRL's per-token outputs in the unshared layout of its
    ``labels``. Any other call goes to the forward as it was. Idempotent."""
    if getattr(model, "_shares_prefixes", False):
        return
    fused_forward = model.forward

    @functools.wraps(fused_forward)
    def forward(*args, shared_prefix=None, **kwargs):
        if shared_prefix is None or not kwargs.get("fused_lm_head"):
            return fused_forward(*args, **kwargs)  # e.g. the logits TRL recomputes for compute_metrics: unshared rows
        scored = kwargs.pop("labels")[:, 1:] != -100
        for key in ("input_ids", "attention_mask", "position_ids"):
            kwargs.pop(key, None)
        out = shared_forward(
            fused_forward,
            shared_prefix,
            model.config._attn_implementation,
            model.dtype,
            labels=shared_prefix["labels"],
            **kwargs,
        )
        width = shared_prefix["labels"].shape[1] - 1
        return type(out)(
            **{
                name: unpack(value, shared_prefix["index"], scored)
                if torch.is_tensor(value) and value.dim() == 2 and value.shape[1] == width
                else value
                for name, value in out.items()
            }
        )

    model.forward = forward
    model._shares_prefixes = True


@dataclass
class SharedPrefixCollator(DataCollatorForPreference):
    """TRL's preference collator (same truncation and padding), plus ``shared_prefix``: the pairs packed one row
    each (chosen row i and rejected row B + i of TRL's batch)."""

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        n = len(examples)
        batch["shared_prefix"] = pack_shared_prefix(
            batch["input_ids"],
            batch["attention_mask"],
            batch["completion_mask"],
            [[i, n + i] for i in range(n)],
            self.pad_token_id,
            self.pad_to_multiple_of,
        )
        return batch


@dataclass
class PrefixSharedDPOConfig(DPOConfig):
    """TRL's DPOConfig plus:

    Args:
        prefix_sharing: encode each pair's prompt once (one packed row per pair, see the module docstring) for the
            policy and the reference log-probs. Turns itself off, with the reason logged, where it cannot apply.
    """

    prefix_sharing: bool = field(default=True, metadata={"help": "encode each pair's prompt once"})


class PrefixSharedDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with prefix sharing: its own collator output plus the packed rows, a forward that runs the
    packed rows wherever TRL calls a model on a batch (policy, frozen reference, precomputed reference, the adapter-
    disabled PEFT reference), and everything else TRL's. Relies on TRL 1.16's ``_compute_loss`` and
    ``compute_ref_log_probs`` calling ``model(**batch_keys, labels=..., fused_lm_head=True)``.

    ``self.prefix_sharing`` says whether it is on; ``self.prefix_sharing_off_reason`` why not.
    """

    def __init__(
        self,
        model,
        ref_model=None,
        args: PrefixSharedDPOConfig | None = None,
        data_collator=None,
        train_dataset=None,
        processing_class=None,
        peft_config=None,
        **kwargs,
    ):
        reason = self._off_reason(model, args, data_collator, train_dataset, processing_class, peft_config)
        if reason is None:
            tokenizer = processing_class
            tokenizer.pad_token = args.pad_token or tokenizer.pad_token or tokenizer.eos_token  # as TRL's collator
            data_collator = SharedPrefixCollator(
                pad_token_id=tokenizer.pad_token_id,
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )
        elif args is not None and args.prefix_sharing:
            logger.warning("prefix sharing is off: %s", reason)
        self.prefix_sharing, self.prefix_sharing_off_reason = reason is None, reason
        super().__init__(
            model,
            ref_model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            processing_class=processing_class,
            peft_config=peft_config,
            **kwargs,
        )

    @staticmethod
    def _off_reason(model, args, data_collator, train_dataset, processing_class, peft_config) -> str | None:
        from transformers import PreTrainedTokenizerBase

        if not isinstance(args, PrefixSharedDPOConfig) or not args.prefix_sharing:
            return "prefix_sharing is false"
        if data_collator is not None:
            return "a custom data_collator"
        if not isinstance(processing_class, PreTrainedTokenizerBase):
            return "the processing class is not a tokenizer (vision-language data)"
        sample = next(iter(train_dataset)) if train_dataset is not None else {}
        if "image" in sample or "images" in sample:
            return "vision data"
        if peft_config is not None and peft_config.is_prompt_learning:
            return "prompt-learning PEFT prepends virtual tokens to every row"
        if not isinstance(model, str) and hasattr(model.config.get_text_config(), "output_router_logits"):
            return "a mixture-of-experts model (its load-balancing loss reads a 2-D attention mask)"
        parallel = args.parallelism_config
        if parallel is not None and (parallel.cp_size > 1 or parallel.sp_size > 1):
            return "context / sequence parallelism shards each row"
        return unsupported_reason(model)

    def _share_prefixes_in(self, *models) -> None:
        """Install the packed forward on the models TRL is about to call (TRL adds its fused head inside its
        ``__init__``, which also precomputes the reference log-probs, so this runs at the first forward)."""
        from accelerate.utils import is_peft_model

        for model in models:
            if model is not None and self.prefix_sharing:
                model = self.accelerator.unwrap_model(model)
                add_shared_prefix_forward(model.get_base_model() if is_peft_model(model) else model)

    def compute_ref_log_probs(self, model, inputs):
        self._share_prefixes_in(model)
        return super().compute_ref_log_probs(model, inputs)

    def _compute_loss(self, model, inputs, return_outputs):
        self._share_prefixes_in(model, self.model, self.ref_model)
        return super()._compute_loss(model, inputs, return_outputs)
