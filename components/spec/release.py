"""Blue-green releases of the served model: the release taking traffic, a candidate beside it, and the soak and
service-level objectives the candidate must meet before it may take over (docs/release.md)."""

from __future__ import annotations

from pydantic import Field

from components.spec.base import Duration, Name, SpecModel


class ReleaseVersion(SpecModel):
    name: Name = Field(description="Release name; the value of the release label on its pods and, while it takes "
                                   "traffic, in the Service's selector.")
    image: str = Field(description="Engine container image of this release, with tag or digest.")
    model_path: str | None = Field(None, description="Directory of the weights inside the serving export; default: "
                                                     "serving.model.path.")


class ReleaseSlo(SpecModel):
    p99_ttft_seconds: float = Field(2.0, gt=0, description="Highest 99th-percentile time to first token over the "
                                                           "last 5 minutes (vllm:time_to_first_token_seconds).")
    p99_e2e_seconds: float = Field(60.0, gt=0, description="Highest 99th-percentile end-to-end request latency over "
                                                           "the last 5 minutes (vllm:e2e_request_latency_seconds).")
    min_ready_fraction: float = Field(1.0, gt=0, le=1, description="Share of the release's pods that must be ready.")


class Release(SpecModel):
    active: ReleaseVersion = Field(description="The release that takes traffic until a promotion.")
    candidate: ReleaseVersion | None = Field(None, description="The release running beside it, soaking.")
    soak: Duration = Field("24h", description="How long the candidate must be observed ready and within its SLO, "
                                              "without a break, before it may be promoted.")
    max_observation_gap: Duration = Field("10m", description="Observations further apart than this break the soak: "
                                                             "a time nobody looked is not counted as good.")
    slo: ReleaseSlo = Field(default_factory=ReleaseSlo, description="What within its SLO means for the candidate.")
    label: str = Field("podforge.io/release", pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$",
                       description="Pod label naming the release; the Service selects on it.")
