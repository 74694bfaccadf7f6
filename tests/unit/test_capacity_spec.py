"""`validate` runs the capacity planner on the spec's serving section: the example stacks' sections fit; a layout
that does not fit is refused on its line naming the shortfall in GiB; FP8 compute on Ampere, a precision the
checkpoint is not, a tensor-parallel size the heads do not divide, more stages than nodes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import components.capacity  # noqa: F401  (registers the serving-capacity rule)
from components.spec import SpecError, load_spec
from components.spec.checks import serving_nodes
from tests.unit.plan_roots import CHECKOUT

SUPERPOD = CHECKOUT / "specs" / "superpod.yaml"
LAB = CHECKOUT / "specs" / "lab.yaml"


def problems(tmp_path: Path, source: Path, *edits: tuple[str, str]) -> list[str]:
    text = source.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path, root=CHECKOUT)
    except SpecError as exc:
        return exc.lines()
    return []


def test_the_example_serving_sections_fit(lab, superpod) -> None:
    assert [n.hostname for n in serving_nodes(superpod)] == ["su1-dgx-20"]  # inference_local
    assert [n.hostname for n in serving_nodes(lab)] == ["lab-dgx-02", "lab-dgx-03", "lab-dgx-04"]  # Kubernetes
    assert lab.serving is not None and lab.serving.model.catalogue_model == "deepseek-r1-distill-qwen-7b"


def test_r1_bf16_on_one_node_is_refused_with_the_shortfall_in_gib(tmp_path) -> None:
    lines = problems(tmp_path, SUPERPOD, ("    quantization: awq\n", "    quantization: none\n"))
    assert len(lines) == 1
    line = lines[0]
    assert ": serving.tensor_parallel_size: 8 — expected a layout that fits: deepseek-r1 at bf16" in line
    assert "short by 88.5 GiB" in line and "no layout on the 1 serving node fits" in line


def test_a_layout_over_the_serving_nodes_is_refused(tmp_path) -> None:
    lines = problems(tmp_path, SUPERPOD, ("  tensor_parallel_size: 8\n",
                                          "  tensor_parallel_size: 8\n  pipeline_parallel_size: 2\n"))
    assert len(lines) == 1 and "serving.pipeline_parallel_size: 2 — expected a layout on the 1 serving node" in lines[0]


def test_a_long_context_for_many_sequences_does_not_fit_and_names_a_layout_that_does(tmp_path) -> None:
    lines = problems(tmp_path, LAB, ("  concurrency: 64\n", "  concurrency: 2048\n"),
                     ("  max_num_seqs: 64\n", "  max_num_seqs: 2048\n"))
    assert len(lines) == 1
    assert "serving.tensor_parallel_size: 1 — expected a layout that fits" in lines[0]
    assert "short by" in lines[0] and "fits" in lines[0].rsplit(";", 1)[1]


def test_fp8_compute_on_ampere_is_refused_at_the_precision(tmp_path) -> None:
    lines = problems(tmp_path, SUPERPOD, ("    quantization: awq\n", "    quantization: fp8\n"))
    assert len(lines) == 1
    assert "serving.precision: 'fp8' — expected a precision dgx-a100-80g's GPUs run" in lines[0]
    assert "Ampere" in lines[0] and "fp8-w8a16" in lines[0]


def test_fp8_weights_run_on_ampere_as_w8a16_where_they_fit(tmp_path) -> None:
    lab = problems(tmp_path, LAB, ("    quantization: none\n", "    quantization: fp8\n"),
                   ("  precision: bf16\n", "  precision: fp8-w8a16\n"))
    assert lab == []
    r1 = problems(tmp_path, SUPERPOD, ("    quantization: awq\n", "    quantization: fp8\n"),
                  ("  tensor_parallel_size: 8\n", "  tensor_parallel_size: 8\n  precision: fp8-w8a16\n"))
    assert len(r1) == 1 and "deepseek-r1 at fp8-w8a16" in r1[0] and "short by" in r1[0]  # 671 GB on one node


@pytest.mark.parametrize("edit, words", [
    (("  precision: bf16\n", "  precision: int4-awq\n"), "serving.precision: 'int4-awq' — expected a precision a 'none' "
                                                         "checkpoint runs at (bf16)"),
    (("  tensor_parallel_size: 1\n", "  tensor_parallel_size: 3\n"),
     "serving.tensor_parallel_size: 3 — expected a tensor-parallel size dividing deepseek-r1-distill-qwen-7b's 28"),
    (("  max_num_seqs: 64\n", "  max_num_seqs: 16\n"), "serving.max_num_seqs: 16 — expected at least concurrency (64)"),
    (("    max_position_embeddings: 131072\n", "    max_position_embeddings: 32768\n"),
     "serving.model.max_position_embeddings: 32768 — expected 131072"),
    (("    catalogue_model: deepseek-r1-distill-qwen-7b\n", "    catalogue_model: qwen-7b\n"),
     "serving.model.catalogue_model: 'qwen-7b' — expected a model of the capacity catalogue"),
])
def test_each_serving_mistake_is_one_line(tmp_path, edit, words) -> None:
    lines = problems(tmp_path, LAB, edit)
    assert [line for line in lines if words in line] != [], lines


def test_a_model_outside_the_catalogue_is_not_planned(tmp_path) -> None:
    assert problems(tmp_path, LAB, ("    name: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B\n", "    name: acme/house-model\n"),
                    ("    catalogue_model: deepseek-r1-distill-qwen-7b\n", "")) == []
