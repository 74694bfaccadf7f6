"""`podforge capacity`: exit 0 when the model fits, 1 when it does not or the GPUs cannot run the precision,
2 on bad input (one line, no traceback); `--json` prints exactly the documented object; `--table` the
model × precision table; `--stack` plans an example stack's serving section."""

from __future__ import annotations

import json

import pytest

from components.cli import main


def capacity(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["capacity", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_awq_on_one_dgx_a100_80g_fits_and_prints_the_json_object(capsys) -> None:
    rc, out, _ = capacity(capsys, "--model", "deepseek-r1", "--precision", "int4-awq", "--sku", "dgx-a100-80g", "--json")
    assert rc == 0
    result = json.loads(out)
    assert list(result) == ["fits", "nodes_per_replica", "tensor_parallel", "pipeline_parallel",
                            "weights_gib_per_gpu", "kv_gib_per_gpu", "reason"]
    assert (result["fits"], result["nodes_per_replica"], result["tensor_parallel"], result["pipeline_parallel"]) == (
        True, 1, 8, 1)
    assert 40 < result["weights_gib_per_gpu"] < 42 and result["kv_gib_per_gpu"] > 0


def test_bf16_within_two_nodes_does_not_fit_and_exits_1_naming_the_shortfall(capsys) -> None:
    rc, out, _ = capacity(capsys, "--model", "deepseek-r1", "--precision", "bf16", "--sku", "dgx-a100-80g",
                          "--max-nodes", "2")
    assert rc == 1
    assert "short by" in out and "GiB" in out


def test_fp8_compute_on_ampere_is_refused_with_exit_1(capsys) -> None:
    rc, out, _ = capacity(capsys, "--model", "deepseek-r1", "--precision", "fp8", "--sku", "dgx-a100-40g", "--json")
    assert rc == 1
    result = json.loads(out)
    assert result["fits"] is False and result["tensor_parallel"] == 0
    assert result["reason"].startswith("refused:") and "Ampere" in result["reason"]


@pytest.mark.parametrize("args, words", [
    (["--model", "gpt-5", "--precision", "bf16", "--sku", "dgx-a100-80g"], "unknown model 'gpt-5'"),
    (["--model", "deepseek-r1", "--precision", "bf16", "--sku", "dgx-z"], "unknown SKU 'dgx-z'"),
    (["--model", "deepseek-r1", "--precision", "bf16"], "--sku missing"),
    (["--model", "deepseek-r1", "--precision", "bf16", "--sku", "dgx-a100-80g", "--max-model-len", "200000"],
     "outside 1..163840"),
    (["--model", "deepseek-r1", "--precision", "bf16", "--sku", "dgx-a100-80g", "--concurrency", "0"],
     "concurrency 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, words) -> None:
    rc, out, err = capacity(capsys, *args)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("podforge capacity: ") and words in err


def test_an_unknown_precision_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["capacity", "--model", "deepseek-r1", "--precision", "fp4", "--sku", "dgx-a100-80g"])
    assert exited.value.code == 2


def test_the_table_shows_the_published_r1_layouts_on_both_dgx_a100_skus(capsys) -> None:
    rc, out, _ = capacity(capsys, "--table")
    assert rc == 0
    eighty, forty = out.split("dgx-a100-40g (")
    assert "| deepseek-r1 | 4 × TP8×PP4 | refused | 2 × TP8×PP2 | 2 × TP8×PP2 | 1 × TP8×PP1 |" in eighty
    assert "| deepseek-r1 | 8 × TP8×PP8 | refused | 4 × TP8×PP4 | 4 × TP8×PP4 | 2 × TP8×PP2 |" in forty
    assert eighty.count("\n| deepseek-") == 8 and forty.count("\n| deepseek-") == 8


@pytest.mark.parametrize("stack, words", [("superpod", "deepseek-r1 at int4-awq on 1 dgx-a100-80g node"),
                                          ("lab", "deepseek-r1-distill-qwen-7b at bf16 on 3 dgx-a100-80g nodes")])
def test_the_example_stacks_serving_sections_fit(capsys, stack, words) -> None:
    rc, out, _ = capacity(capsys, "--stack", stack)
    assert rc == 0
    assert words in out and "declared fits: TP" in out
