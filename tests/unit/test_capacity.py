"""The capacity planner: weights and KV cache per GPU, the layouts it tries, and the published DeepSeek-R1
layouts on DGX A100 it reproduces (BF16 on four nodes, INT8 on two, AWQ on one at TP8, FP8 compute refused)."""

from __future__ import annotations

import math

import pytest

from components.capacity import CapacityInputError, catalogue, plan, request
from components.capacity.planner import GIB, Layout, evaluate, kv_bytes_per_token, layouts, weights_bytes
from components.spec.catalogue import builtin_catalogue

A100_80 = builtin_catalogue()["dgx-a100-80g"]
A100_40 = builtin_catalogue()["dgx-a100-40g"]
H200 = builtin_catalogue()["gpu-h200-1"]


def r1(precision: str, sku=A100_80, max_nodes: int = 8):
    return plan(request("deepseek-r1", precision, sku), max_nodes)


def test_r1_bf16_on_dgx_a100_80g_needs_four_nodes_tp8_pp4() -> None:
    result = r1("bf16")
    assert result.fits
    assert (result.nodes_per_replica, result.tensor_parallel, result.pipeline_parallel) == (4, 8, 4)
    assert result.weights_gib_per_gpu == pytest.approx(671e9 * 2 / 32 / GIB, rel=1e-9)


def test_r1_int8_w8a8_on_dgx_a100_80g_needs_two_nodes() -> None:
    result = r1("int8")
    assert result.fits
    assert (result.nodes_per_replica, result.tensor_parallel, result.pipeline_parallel) == (2, 8, 2)


def test_r1_int4_awq_on_dgx_a100_80g_fits_one_node_at_tp8() -> None:
    result = r1("int4-awq")
    assert result.fits
    assert (result.nodes_per_replica, result.tensor_parallel, result.pipeline_parallel) == (1, 8, 1)
    assert result.weights_gib_per_gpu + result.kv_gib_per_gpu <= 80 * 0.9


def test_half_the_published_nodes_do_not_fit_and_the_shortfall_is_named() -> None:
    for precision, nodes in (("bf16", 4), ("int8", 2)):
        smaller = r1(precision, max_nodes=nodes // 2)
        assert not smaller.fits
        assert smaller.nodes_per_replica == nodes // 2
        assert smaller.shortfall_gib > 0
        assert f"short by {smaller.shortfall_gib:.1f} GiB" in smaller.reason


def test_fp8_compute_is_refused_on_ampere_and_runs_on_hopper() -> None:
    for sku in (A100_80, A100_40):
        refused = r1("fp8", sku)
        assert not refused.fits and refused.tensor_parallel == 0 and refused.nodes_per_replica == 0
        assert "Ampere" in refused.reason and "fp8-w8a16" in refused.reason
    assert r1("fp8", H200).tensor_parallel > 0


def test_fp8_weights_run_on_ampere_as_w8a16_with_the_moe_caveat_stated() -> None:
    result = r1("fp8-w8a16")
    assert result.fits and result.nodes_per_replica == 2
    assert "Marlin" in result.reason and "MoE" in result.reason
    dense = plan(request("deepseek-r1-distill-llama-70b", "fp8-w8a16", A100_80))
    assert dense.fits and "note:" not in dense.reason


def test_mla_kv_per_token_is_layers_times_latent_plus_rope_and_the_same_on_every_tp_rank() -> None:
    model = catalogue().models["deepseek-r1"]
    assert (model.layers, model.kv_lora_rank, model.qk_rope_head_dim) == (61, 512, 64)
    per_token = [kv_bytes_per_token(model, Layout(tp, 1), 2) for tp in (1, 2, 8, 32)]
    assert per_token == [61 * (512 + 64) * 2] * 4
    assert kv_bytes_per_token(model, Layout(8, 2), 2) == 31 * 576 * 2  # the larger stage of 61 layers over 2
    assert kv_bytes_per_token(model, Layout(8, 4), 2) == 16 * 576 * 2


def test_gqa_kv_is_split_across_tp_ranks_until_one_kv_head_each() -> None:
    model = catalogue().models["deepseek-r1-distill-qwen-7b"]  # 28 layers, 4 KV heads of 128
    full = 2 * 28 * 4 * 128 * 2
    assert kv_bytes_per_token(model, Layout(1, 1), 2) == full
    assert kv_bytes_per_token(model, Layout(2, 1), 2) == full // 2
    assert kv_bytes_per_token(model, Layout(4, 1), 2) == full // 4
    assert kv_bytes_per_token(model, Layout(8, 1), 2) == full // 4  # replicated: one head per rank


def test_kv_cache_grows_with_context_and_concurrency() -> None:
    req = request("deepseek-r1-distill-llama-70b", "bf16", A100_80, max_model_len=8192, concurrency=3)
    result = evaluate(req, Layout(4, 1))
    per_token = 2 * 80 * (8 // 4) * 128 * 2
    assert result.kv_gib_per_gpu == pytest.approx(8192 * 3 * per_token / GIB)


def test_layouts_are_powers_of_two_dividing_the_heads_smallest_first() -> None:
    qwen7 = catalogue().models["deepseek-r1-distill-qwen-7b"]
    found = layouts(qwen7, 8, 2)
    assert found[0] == Layout(1, 1)
    assert all(28 % lay.tensor_parallel == 0 for lay in found)
    assert {lay.tensor_parallel for lay in found} == {1, 2, 4}
    assert all(lay.pipeline_parallel & (lay.pipeline_parallel - 1) == 0 for lay in found)
    assert [lay.gpus for lay in found] == sorted(lay.gpus for lay in found)
    r1_32 = [lay for lay in layouts(catalogue().models["deepseek-r1"], 8, 4) if lay.gpus == 32]
    assert r1_32[0] == Layout(8, 4)  # TP across one node's GPUs, PP across the nodes
    assert Layout(32, 1) in r1_32


def test_quantized_weights_keep_embeddings_and_lm_head_at_16_bit() -> None:
    model = catalogue().models["deepseek-r1"]
    awq = catalogue().precisions["int4-awq"]
    plain = 129280 * 7168 * 2
    assert weights_bytes(model, awq) == pytest.approx((671e9 - plain) * (0.5 + 2.5 / 128) + plain * 2)


def test_distilled_parameter_counts_follow_from_their_config_dimensions() -> None:
    for name, m in catalogue().models.items():
        if m.attention != "gqa":
            continue
        assert m.intermediate_size is not None
        attention = 2 * m.hidden_size * m.attention_heads * m.head_dim + 2 * m.hidden_size * m.kv_heads * m.head_dim
        bias = (m.attention_heads + 2 * m.kv_heads) * m.head_dim if m.qkv_bias else 0
        layer = attention + bias + 3 * m.hidden_size * m.intermediate_size + 2 * m.hidden_size
        total = m.layers * layer + m.unquantized_parameters + m.hidden_size
        assert m.parameters == total, name


def test_every_model_and_precision_has_a_source_and_every_sku_an_architecture() -> None:
    cat = catalogue()
    assert set(cat.models) == {"deepseek-r1", "deepseek-v3", "deepseek-r1-distill-llama-70b",
                               "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-qwen-14b",
                               "deepseek-r1-distill-llama-8b", "deepseek-r1-distill-qwen-7b",
                               "deepseek-r1-distill-qwen-1.5b"}
    assert set(cat.precisions) == {"bf16", "fp8", "fp8-w8a16", "int8", "int4-awq"}
    assert all(m.sources and m.hf_repo.startswith("deepseek-ai/") for m in cat.models.values())
    assert all(p.sources for p in cat.precisions.values())
    assert {s.gpu.model for s in builtin_catalogue().values()} <= set(cat.gpu_architectures)
    assert "ampere" not in cat.precisions["fp8"].architectures
    assert "ampere" in cat.precisions["fp8-w8a16"].architectures


def test_served_names_resolve_to_catalogue_models() -> None:
    cat = catalogue()
    assert cat.resolve("deepseek-ai/DeepSeek-R1-AWQ") == "deepseek-r1"
    assert cat.resolve("deepseek-ai/DeepSeek-R1") == "deepseek-r1"
    assert cat.resolve("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "deepseek-r1-distill-qwen-1.5b"
    assert cat.resolve("casperhansen/deepseek-r1-distill-llama-70b-awq") == "deepseek-r1-distill-llama-70b"
    assert cat.resolve("meta-llama/Llama-3.1-8B") is None
    assert cat.resolve("deepseek-ai/DeepSeek-R1-Zero") == "deepseek-r1"  # the prefix rule, stated in its docstring


@pytest.mark.parametrize("args, words", [
    (("nope", "bf16"), "unknown model"),
    (("deepseek-r1", "fp4"), "unknown precision"),
    (("deepseek-r1", "bf16", 163841), "outside 1..163840"),
    (("deepseek-r1", "bf16", 0), "outside 1..163840"),
])
def test_bad_input_is_refused_with_a_reason(args, words) -> None:
    model, precision, *length = args
    with pytest.raises(CapacityInputError, match=words):
        request(model, precision, A100_80, *length)
    with pytest.raises(CapacityInputError, match="concurrency"):
        request("deepseek-r1", "bf16", A100_80, concurrency=0)


def test_the_json_object_has_exactly_the_documented_keys() -> None:
    out = r1("int4-awq").as_json()
    assert list(out) == ["fits", "nodes_per_replica", "tensor_parallel", "pipeline_parallel", "weights_gib_per_gpu",
                         "kv_gib_per_gpu", "reason"]
    assert isinstance(out["fits"], bool) and isinstance(out["reason"], str)
    assert math.isclose(out["weights_gib_per_gpu"], r1("int4-awq").weights_gib_per_gpu, abs_tol=0.005)
