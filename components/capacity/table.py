"""The capacity table: every catalogue model at every precision on given SKUs, as Markdown (README, docs)."""

from __future__ import annotations

from components.capacity.catalogue import Catalogue, catalogue
from components.capacity.planner import DEFAULT_MAX_NODES, Plan, plan, request
from components.spec.catalogue_models import Sku


def cell(result: Plan) -> str:
    """`4 × TP8×PP4` when it fits; `refused` when the GPUs cannot run the precision; `short 31.6 GiB` else."""
    if result.fits:
        return f"{result.nodes_per_replica} × TP{result.tensor_parallel}×PP{result.pipeline_parallel}"
    if result.tensor_parallel == 0:
        return "refused"
    return f"short {result.shortfall_gib:.1f} GiB"


def capacity_table(skus: list[Sku], max_model_len: int | None = None, concurrency: int = 1,
                   max_nodes: int = DEFAULT_MAX_NODES, cat: Catalogue | None = None) -> str:
    """One Markdown table per SKU: rows are models, columns precisions; a cell is nodes per replica × layout."""
    cat = cat or catalogue()
    out: list[str] = []
    for sku in skus:
        length = "each model's max_position_embeddings" if max_model_len is None else f"{max_model_len}"
        out += [f"{sku.name} ({sku.gpu.count}× {sku.gpu.model}, {sku.gpu.memory_gib} GiB; max model length "
                f"{length}, concurrency {concurrency}, up to {max_nodes} nodes)", "",
                "| model | " + " | ".join(cat.precisions) + " |",
                "| --- |" + " --- |" * len(cat.precisions)]
        for name, model in cat.models.items():
            length_of = min(max_model_len or model.max_position_embeddings, model.max_position_embeddings)
            cells = [cell(plan(request(name, p, sku, length_of, concurrency, cat=cat), max_nodes, cat))
                     for p in cat.precisions]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["A cell is nodes per replica × tensor-parallel × pipeline-parallel size of the smallest layout that fits;",
            "refused: the GPUs cannot run that precision; short: no layout up to the node limit fits, by that much",
            "per GPU. Method and sources: docs/capacity.md."]
    return "\n".join(out) + "\n"
