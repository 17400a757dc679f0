"""The shipped accelerate configs (``recipes/accelerate/*.yaml``) as ``accelerate launch`` reads them.

Each file loads with accelerate's own config loader; accelerate's own launch parsing, validation and launcher helpers
turn it into the environment every training process starts with; for ZeRO and FSDP2 the plugin those processes build
from that environment is checked too. No GPU and no DeepSpeed install needed (nothing is launched here); DDP runs for
real on 2 CPU processes in test_accelerate.py.
"""

import os

import pytest
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin, patch_environment
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

from mipo_bench.core.resources import recipes_dir

CONFIGS = recipes_dir() / "accelerate"
KINDS = {
    "ddp": DistributedType.MULTI_GPU,
    "zero2": DistributedType.DEEPSPEED,
    "zero3": DistributedType.DEEPSPEED,
    "fsdp2": DistributedType.FSDP,
}


def launch(name: str, *options: str):
    """``accelerate launch --config_file <name> <options> -m mipo_bench.cli train recipe.yaml``, parsed and validated
    by accelerate itself (config values merged into the arguments), up to the point where it picks a launcher."""
    argv = ["--config_file", str(CONFIGS / f"{name}.yaml"), *options, "-m", "mipo_bench.cli", "train", "recipe.yaml"]
    return _validate_launch_command(launch_command_parser().parse_args(argv))


def launched(env: dict):
    """The launcher's environment (what it adds to this process's) set for the duration of a ``with`` block."""
    return patch_environment(**{k: v for k, v in env.items() if os.environ.get(k) != v})


def test_the_four_configs_are_shipped_and_load_with_accelerates_loader():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(KINDS)
    for name, kind in KINDS.items():
        config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))  # raises on a key accelerate does not know
        assert isinstance(config, ClusterConfig), name
        assert config.distributed_type == kind and config.mixed_precision == "bf16" and not config.use_cpu, name
        assert (config.num_machines, config.num_processes, config.machine_rank) == (1, 2, 0), name


def test_ddp_runs_torchrun_with_one_process_per_gpu_on_one_or_several_nodes():
    args, _, _ = launch("ddp", "--num_processes", "4", "--main_process_port", "0")
    assert args.multi_gpu and not (args.use_deepspeed or args.use_fsdp)
    env = prepare_multi_gpu_env(args)
    assert args.nproc_per_node == "4" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert "ACCELERATE_USE_FSDP" not in env and "ACCELERATE_USE_DEEPSPEED" not in env

    two_nodes = ("--num_machines", "2", "--num_processes", "8", "--machine_rank", "1")
    args, _, _ = launch("ddp", *two_nodes, "--main_process_ip", "10.0.0.1", "--main_process_port", "29500")
    prepare_multi_gpu_env(args)
    assert (args.nproc_per_node, args.nnodes, args.node_rank) == ("4", "2", 1)
    assert args.rdzv_endpoint == "10.0.0.1:29500"  # every node meets at the head's address


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_configs_give_the_stage_bf16_and_leave_batch_settings_to_the_recipe(stage):
    args, defaults, mixed_precision_from_config = launch(f"zero{stage}", "--main_process_port", "0")
    assert args.use_deepspeed and not (args.multi_gpu or args.use_fsdp)
    # what launch_command does before handing over to deepspeed_launcher
    fields = [*defaults.deepspeed_config, *(["mixed_precision"] if mixed_precision_from_config else [])]
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    command, env = prepare_deepspeed_cmd_env(args)
    assert command is None and args.nproc_per_node == "2"  # torchrun on this node, not the pdsh launcher
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == str(stage)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE"] == env["ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE"]
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE"] == "none"
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env and "ACCELERATE_GRADIENT_CLIPPING" not in env

    with launched(env):  # what each training process builds (transformers' TrainingArguments does this)
        plugin = DeepSpeedPlugin()
        plugin.set_mixed_precision(env["ACCELERATE_MIXED_PRECISION"])
    ds = plugin.deepspeed_config
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["bf16"] == {"enabled": True} and ds["fp16"] == {"enabled": False}
    auto = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping")
    assert [ds[k] for k in auto] == ["auto"] * 4  # the Trainer fills them from the recipe's train settings
    # ZeRO-3: weights created sharded, and gathered into one 16-bit checkpoint at save
    assert plugin.zero3_init_flag is (stage == 3)
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is (stage == 3)

    two_nodes = ("--num_machines", "2", "--num_processes", "4", "--machine_rank", "1")
    args, _, _ = launch(f"zero{stage}", *two_nodes, "--main_process_ip", "10.0.0.1")
    args.deepspeed_fields_from_accelerate_config = ""
    command, _ = prepare_deepspeed_cmd_env(args)
    assert command is None and (args.nproc_per_node, args.nnodes, args.node_rank) == ("2", "2", 1)  # "standard"


def _tiny(kind: str):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    sizes = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1)
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(num_hidden_layers=3, **sizes))
    return Qwen2ForCausalLM(Qwen2Config(num_hidden_layers=3, **sizes))


def test_fsdp2_shards_each_decoder_layer_of_llama_and_qwen_models():
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from torch.distributed.fsdp import StateDictType

    args, _, _ = launch("fsdp2", "--main_process_port", "0")
    assert args.use_fsdp and not (args.use_deepspeed or args.multi_gpu)
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16" and env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP" and "FSDP_TRANSFORMER_CLS_TO_WRAP" not in env

    with launched(env):  # the plugin each training process builds from that environment
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT  # one consolidated checkpoint at save
    assert not plugin.cpu_ram_efficient_loading and not plugin.activation_checkpointing
    for kind, layer in (("llama", "LlamaDecoderLayer"), ("qwen", "Qwen2DecoderLayer")):
        model = _tiny(kind)
        policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
        wrapped = [module for module in model.modules() if policy(module)]
        assert len(wrapped) == 3 and {type(module).__name__ for module in wrapped} == {layer}, kind
