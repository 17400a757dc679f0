"""``infonce``: the paper's InfoNCE baseline (Eq. 14, §5.2) on the same pair files MIPO uses.

Each pair is a group of K = 2: the chosen response y_1 generated from the chosen chat x_1 (``prompt``) and the
rejected response y_2 generated from x_2 (``rejected_messages`` when the rows carry it, else the user text
``rejected_prompt``). Every response is scored under every chat: ``logps[b, i, j] = log pi(y_i | x_j)``, summed over
the response tokens; four sequences a pair, one forward over the padded batch. The loss is Eq. 14

    L = -E[(1/K) sum_i log( pi(y_i|x_i) / ((1/K) sum_j pi(y_i|x_j)) )]
      = mean_i CE_j(logps[i, :] / tau, target i) - log K          (tau = 1)

i.e. per response a cross-entropy over the contexts with the context it was generated from as the target. The
released code (``openrlhf/models/loss.py``) is the same cross-entropy with the log-probs divided by a hard-coded
temperature of 100 and without the ``- log K``, a constant that changes no gradient; no reference model.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from .base import PAIRS, register_method
from .common import TrainSettings


@dataclass
class InfoNCESettings(TrainSettings):
    """The recipe's ``train:`` section for ``infonce``: TrainSettings' optimizer and schedule (the paper ran InfoNCE
    with MIPO's flags: batch 4 = micro 1 x accumulation 4, 1 epoch, lr from {1e-6, 5e-7, 1e-7}) plus:

    Args:
        temperature: the log-probs are divided by it before the softmax over contexts. Default 100, the released
            code's hard-coded value, which produced the paper's InfoNCE numbers. Eq. 14 as printed is temperature 1,
            but summed log-probs of whole responses differ across contexts by tens to hundreds of nats, so at 1 the
            softmax saturates: a response already ranked right gets no gradient and one ranked wrong gets the full
            difference, a hinge on sequence log-probs. At 100 it is a smooth contrast (like DPO with beta 0.01 and no
            reference). ``train.temperature=1`` gives Eq. 14 literally.
        prefix_sharing: encode each context once for the K responses scored under it: one packed row per context
            (``prefix_sharing.py``), 2 instead of 4 prompt encodings a pair; the log-probs are those of the separate
            rows. Turns itself off, with the reason logged, where it cannot apply (e.g. flash attention).

    ``max_length`` (inherited) caps each of the four sequences; see :func:`truncate_group`. InfoNCE has no
    reference model and no beta.
    """

    temperature: float = 100.0
    prefix_sharing: bool = True


@dataclass
class InfoNCEConfig(TrainingArguments):
    """``transformers.TrainingArguments`` plus InfoNCE's own fields (the way TRL's configs extend it).

    Args:
        temperature: see :class:`InfoNCESettings`.
        max_length: tokens kept per sequence (prompt + response); None keeps everything.
        prefix_sharing: see :class:`InfoNCESettings`.
        remove_unused_columns: False: the collator reads the tokenized columns, which the model's signature lacks.
    """

    temperature: float = field(default=100.0, metadata={"help": "log-probs are divided by it before the softmax"})
    max_length: int | None = field(default=1024, metadata={"help": "tokens kept per sequence"})
    prefix_sharing: bool = field(default=True, metadata={"help": "encode each context once for its K responses"})
    remove_unused_columns: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError(f"infonce: temperature must be positive, not {self.temperature}")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"infonce: max_length must be at least 2, not {self.max_length}")


def infonce_loss(logps: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 14 on ``logps[b, i, j] = log pi(y_i | x_j)`` ([B, K, K], y_i generated from x_i): per response i the
    cross-entropy over contexts j of ``logps / temperature`` with target j = i, averaged over i and b, minus log K.

    At temperature 1 this equals Eq. 14 exactly: log(pi_ii / ((1/K) sum_j pi_ij)) = log_softmax_j(logps_i)_i + log K.
    Its minimum is -log K (each response only likely under its own context, the InfoNCE bound on the mutual
    information reaching log K); 0 when the context does not matter.
    """
    batch, k, k_contexts = logps.shape
    if k != k_contexts:
        raise ValueError(f"infonce_loss: logps must be [B, K, K], got {tuple(logps.shape)}")
    targets = torch.arange(k, device=logps.device).repeat(batch)
    return F.cross_entropy((logps / temperature).reshape(batch * k, k), targets) - math.log(k)


def group_metrics(logps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-group diagnostics: diagonal (own context) minus mean off-diagonal log-prob per response, whether the own
    context wins over every other, and the two means."""
    k = logps.shape[-1]
    diag = logps.diagonal(dim1=-2, dim2=-1)  # [B, K]
    off = (logps.sum(-1) - diag) / (k - 1)
    others = logps.masked_fill(torch.eye(k, dtype=torch.bool, device=logps.device), float("-inf")).amax(-1)
    return {
        "margin": (diag - off).mean(),
        "accuracy": (diag > others).float().mean(),
        "logps_own_context": diag.mean(),
        "logps_other_context": off.mean(),
    }


def _chat_ids(tokenizer, messages: list[dict], **kwargs) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])


def split_prompt(tokenizer, prompt: list[dict], responses: list[list[dict]]) -> tuple[list[int], list[list[int]]]:
    """``prompt`` (with the generation prompt) and each response as the assistant turn, tokenized as TRL's DPO does for
    conversational rows: the response is what ``prompt + response`` adds after their common prefix (its
    end-of-turn token included)."""
    from trl.data_utils import common_prefix_length

    prompt_ids = _chat_ids(tokenizer, prompt, add_generation_prompt=True)
    full = [_chat_ids(tokenizer, prompt + response) for response in responses]
    start = min(common_prefix_length(prompt_ids, ids) for ids in full)
    return prompt_ids[:start], [ids[start:] for ids in full]


def truncate_group(prompts: list[list[int]], responses: list[list[list[int]]], max_length: int | None):
    """Cut ``prompts[j] + responses[i][j]`` to ``max_length`` tokens, keeping the prompt's END (the question sits at
    the end of a few-shot prompt) and the response's START (its first tokens are what the context decides).

    A response is cut to the same length under every context, so the K log-probs it is contrasted by cover the same
    tokens: its length is at most ``max_length`` minus its longest prompt, where each prompt is reserved at most
    half of ``max_length``; the prompt then keeps its last ``max_length - response length`` tokens. A group that
    fits is unchanged. Returns the (prompt, response) token lists in (i, j) order.
    """
    sequences = []
    for per_context in responses:
        keep = min(len(ids) for ids in per_context)
        if max_length is not None:
            keep = min([keep] + [max_length - min(len(p), max_length // 2) for p in prompts])
        for prompt, ids in zip(prompts, per_context):
            prompt_keep = len(prompt) if max_length is None else min(len(prompt), max_length - keep)
            sequences.append((prompt[len(prompt) - prompt_keep :], ids[:keep]))
    return sequences


def tokenize_group(tokenizer, contexts: list[list[dict]], responses: list[list[dict]], max_length: int | None):
    """The K x K (prompt, response) token lists of one group, response i under context j at index i * K + j."""
    split = [split_prompt(tokenizer, context, responses) for context in contexts]
    prompts = [prompt_ids for prompt_ids, _ in split]
    per_response = [[split[j][1][i] for j in range(len(contexts))] for i in range(len(responses))]
    sequences = truncate_group(prompts, per_response, max_length)
    return {"prompt_ids": [p for p, _ in sequences], "response_ids": [r for _, r in sequences]}


def collate_groups(features: list[dict], pad_token_id: int, share_prefixes: bool = False) -> dict[str, torch.Tensor]:
    """All sequences of all groups, right-padded, with a mask of the response tokens; with ``share_prefixes`` also
    ``shared_prefix``: the K responses under each context packed into one row (sequence ``i * K + j`` of a group
    goes to the row of context j)."""
    from trl.trainer.utils import pad

    from .prefix_sharing import pack_shared_prefix

    ids, masks = [], []
    for feature in features:
        for prompt, response in zip(feature["prompt_ids"], feature["response_ids"]):
            ids.append(torch.tensor(prompt + response))
            masks.append(torch.tensor([0] * len(prompt) + [1] * len(response)))
    batch = {
        "input_ids": pad(ids, padding_value=pad_token_id),
        "attention_mask": pad([torch.ones_like(m) for m in masks], padding_value=0),
        "completion_mask": pad(masks, padding_value=0),
    }
    if share_prefixes:
        k = math.isqrt(len(features[0]["prompt_ids"]))
        contexts = [[g * k * k + i * k + j for i in range(k)] for g in range(len(features)) for j in range(k)]
        batch["shared_prefix"] = pack_shared_prefix(
            batch["input_ids"], batch["attention_mask"], batch["completion_mask"], contexts, pad_token_id
        )
    return batch


def summed_response_logps(model, input_ids, attention_mask, completion_mask) -> torch.Tensor:
    """log pi(response | prompt) per sequence: token log-probs (in fp32) summed over the response tokens."""
    from trl.trainer.utils import selective_log_softmax

    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    token_logps = selective_log_softmax(logits.float(), input_ids[:, 1:])
    return (token_logps * completion_mask[:, 1:]).sum(-1)


class InfoNCETrainer(Trainer):
    """A ``transformers.Trainer`` whose ``train_dataset`` is groups ``{"contexts": [K chats], "responses": [K
    assistant turns]}`` (response i generated from context i); logs ``infonce/*`` metrics as DPOTrainer logs
    ``rewards/*``."""

    loss_is_scaled_for_ga = False  # compute_loss returns a batch mean: the Trainer divides by the accumulation steps

    def __init__(self, model, args: InfoNCEConfig, train_dataset: list[dict], processing_class, callbacks=None):
        sizes = {n for g in train_dataset for n in (len(g["contexts"]), len(g["responses"]))}
        if len(sizes) != 1 or min(sizes) < 2:
            raise ValueError(f"infonce: every group needs K >= 2 contexts and as many responses, got sizes {sizes}")
        self.group_size = sizes.pop()
        features = [
            tokenize_group(processing_class, g["contexts"], g["responses"], args.max_length) for g in train_dataset
        ]
        pad_token_id = processing_class.pad_token_id
        if pad_token_id is None:
            pad_token_id = processing_class.eos_token_id
        from .prefix_sharing import unsupported_reason

        self.prefix_sharing_off_reason = unsupported_reason(model) if args.prefix_sharing else "prefix_sharing is false"
        self.prefix_sharing = self.prefix_sharing_off_reason is None
        if args.prefix_sharing and not self.prefix_sharing:
            logging.getLogger(__name__).warning("prefix sharing is off: %s", self.prefix_sharing_off_reason)
        super().__init__(
            model=model,
            args=args,
            train_dataset=features,
            data_collator=lambda batch: collate_groups(batch, pad_token_id, self.prefix_sharing),
            processing_class=processing_class,
            callbacks=callbacks,
        )
        self._metrics: dict[str, list[float]] = defaultdict(list)

    def group_logps(self, model, inputs) -> torch.Tensor:
        """``[B, K, K]`` summed log-probs, ``[b, i, j] = log pi(y_i | x_j)``."""
        completion_mask = inputs["completion_mask"]
        if "shared_prefix" in inputs:
            from .prefix_sharing import shared_response_logps

            unwrapped = self.accelerator.unwrap_model(model)
            attention, dtype = unwrapped.config._attn_implementation, unwrapped.dtype
            logps = shared_response_logps(model, inputs["shared_prefix"], completion_mask, attention, dtype)
        else:
            logps = summed_response_logps(model, inputs["input_ids"], inputs["attention_mask"], completion_mask)
        return logps.view(-1, self.group_size, self.group_size)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logps = self.group_logps(model, inputs)
        loss = infonce_loss(logps, self.args.temperature)
        for name, value in {"loss": loss.detach(), **group_metrics(logps.detach())}.items():
            self._metrics[f"infonce/{name}"].append(self.accelerator.gather(value.reshape(1)).mean().item())
        return (loss, {"logps": logps}) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        logs.update({key: sum(values) / len(values) for key, values in self._metrics.items() if values})
        self._metrics.clear()
        super().log(logs, start_time)


def pair_groups(rows: list[dict]) -> list[dict]:
    """One K = 2 group per pair row: contexts [chosen chat, the chat the rejected response was generated from]."""
    groups = []
    for n, row in enumerate(rows, 1):
        where = f"infonce: pairs row {n} (id {row.get('id')!r})"
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(key), list) or not row[key]:
                raise ValueError(f"{where}: missing or empty {key!r} message list")
        if row.get("rejected_messages"):
            rejected_chat = row["rejected_messages"]
        elif row.get("rejected_prompt"):
            rejected_chat = [{"role": "user", "content": row["rejected_prompt"]}]  # what the pairs stage generated from
        else:
            raise ValueError(f"{where}: no 'rejected_prompt' (the user text the rejected response was generated from)")
        if rejected_chat == row["prompt"]:
            raise ValueError(f"{where}: rejected and chosen were generated from the same prompt: nothing to contrast")
        groups.append({"contexts": [row["prompt"], rejected_chat], "responses": [row["chosen"], row["rejected"]]})
    if not groups:
        raise ValueError("infonce: no pairs")
    return groups


@register_method("infonce", consumes=PAIRS, settings=InfoNCESettings)
def build_infonce_trainer(policy, tokenizer, rows, settings: InfoNCESettings, ctx) -> InfoNCETrainer:
    groups = pair_groups(rows)
    config = settings.trl_config(InfoNCEConfig, ctx)  # temperature and prefix_sharing: the settings' own fields
    peft_config = settings.peft_config()
    if peft_config is not None:
        from peft import get_peft_model

        policy = get_peft_model(policy, peft_config)
        if settings.gradient_checkpointing:
            policy.enable_input_require_grads()  # frozen embeddings: checkpointed blocks need an input with grad
    return InfoNCETrainer(policy, config, groups, tokenizer, callbacks=ctx.callbacks)
