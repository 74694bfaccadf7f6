"""The blue-green state machine: every transition, every refusal, the soak counted only from observations."""

from __future__ import annotations

import pytest

from components import release as m
from components.spec.release import Release

H = 3600.0
T0 = 1_800_000_000.0


def spec(candidate: str | None = "r2", **kw) -> Release:
    data = {"active": {"name": "r1", "image": "vllm/vllm-openai:v0.11.0"}, **kw}
    if candidate:
        data["candidate"] = {"name": candidate, "image": "vllm/vllm-openai:v0.11.1"}
    return Release.model_validate(data)


def good(t: float, release: str = "r2") -> m.Observation:
    return m.Observation(t, release, 1.0, 0.4, 12.0, "test")


def soak(state: m.ReleaseState, sp: Release, start: float, hours: float, every: float = 300) -> m.ReleaseState:
    t = start
    while t <= start + hours * H:
        state = m.observe(state, sp, good(t))
        t += every
    return state


def test_the_spec_defaults_are_a_24_hour_soak_on_the_release_label() -> None:
    sp = spec()
    assert sp.soak == "24h" and sp.max_observation_gap == "10m" and sp.label == "podforge.io/release"
    assert sp.slo.min_ready_fraction == 1.0


def test_at_the_start_the_active_release_takes_traffic_and_the_candidate_soaks_from_nothing() -> None:
    state = m.initial(spec(), T0)
    assert (state.serving, state.standby, state.candidate) == ("r1", None, "r2")
    assert m.service_selector(state, spec()) == {"podforge.io/release": "r1"}
    assert m.soaked(state, spec(), T0) == 0


def test_promotion_is_refused_before_any_observation() -> None:
    with pytest.raises(m.Refused, match="never observed"):
        m.promote(m.initial(spec(), T0), spec(), T0 + 25 * H)


def test_promotion_is_refused_without_a_candidate() -> None:
    with pytest.raises(m.Refused, match="no candidate"):
        m.promote(m.initial(spec(candidate=None), T0), spec(candidate=None), T0)


def test_promotion_is_refused_until_the_soak_is_complete_and_then_allowed() -> None:
    sp = spec()
    state = soak(m.initial(sp, T0), sp, T0, 23.9)
    with pytest.raises(m.Refused, match="to go"):
        m.promote(state, sp, state.last_good + 60)
    state = soak(state, sp, state.last_good + 300, 0.2)
    promoted = m.promote(state, sp, state.last_good + 60)
    assert (promoted.serving, promoted.standby, promoted.candidate) == ("r2", "r1", None)
    assert m.service_patch(promoted, sp) == {"spec": {"selector": {"podforge.io/release": "r2"}}}
    assert promoted.events[-1].action == "promote"


def test_a_bad_observation_restarts_the_soak() -> None:
    sp = spec()
    state = soak(m.initial(sp, T0), sp, T0, 20)
    state = m.observe(state, sp, m.Observation(state.last_good + 300, "r2", 1.0, 5.0, 12.0, "test"))
    assert state.good_since is None and "p99 TTFT" in state.last_problems[0]
    with pytest.raises(m.Refused, match="not ready within its SLO"):
        m.promote(state, sp, state.last_observed + 1)
    state = soak(state, sp, state.last_observed + 300, 5)
    with pytest.raises(m.Refused, match="to go"):  # 5 h since the breach, not 25 h in all
        m.promote(state, sp, state.last_good + 1)


@pytest.mark.parametrize(("obs", "problem"), [
    (m.Observation(0, "r2", 0.5, 0.1, 1.0, "t"), "ready 50%"),
    (m.Observation(0, "r2", None, 0.1, 1.0, "t"), "readiness unknown"),
    (m.Observation(0, "r2", 1.0, None, 1.0, "t"), "p99 TTFT unknown"),
    (m.Observation(0, "r2", 1.0, 0.1, 61.0, "t"), "p99 latency 61s > 60s"),
])
def test_an_unknown_or_out_of_slo_value_is_never_good(obs, problem) -> None:
    assert any(problem in p for p in obs.problems(spec()))


def test_a_gap_in_the_observations_breaks_the_soak() -> None:
    sp = spec()
    state = soak(m.initial(sp, T0), sp, T0, 12)
    state = soak(state, sp, state.last_good + 3 * H, 12.5)  # nobody looked for 3 hours
    assert m.soaked(state, sp, state.last_good) == pytest.approx(12.5 * H, abs=300)
    with pytest.raises(m.Refused, match="to go"):
        m.promote(state, sp, state.last_good + 1)


def test_a_stale_soak_is_refused_until_observed_again() -> None:
    sp = spec()
    state = soak(m.initial(sp, T0), sp, T0, 24.5)
    with pytest.raises(m.Refused, match="old"):
        m.promote(state, sp, state.last_good + 2 * H)
    assert m.soaked(state, sp, state.last_good + 2 * H) == 0


def test_a_shorter_declared_soak_is_honoured() -> None:
    sp = spec(soak="1h")
    state = soak(m.initial(sp, T0), sp, T0, 1.1)
    assert m.promote(state, sp, state.last_good + 10).serving == "r2"


def test_observations_must_be_of_the_candidate_and_move_forward() -> None:
    sp = spec()
    state = m.observe(m.initial(sp, T0), sp, good(T0))
    with pytest.raises(m.Refused, match="candidate is r2"):
        m.observe(state, sp, good(T0 + 60, release="r1"))
    with pytest.raises(m.Refused, match="not after"):
        m.observe(state, sp, good(T0))
    with pytest.raises(m.Refused, match="no candidate"):
        m.observe(m.initial(spec(candidate=None), T0), spec(candidate=None), good(T0))


def test_rollback_is_one_switch_back_and_refused_when_nothing_ran_before() -> None:
    sp = spec()
    with pytest.raises(m.Refused, match="nothing to roll back"):
        m.rollback(m.initial(sp, T0), T0)
    promoted = m.promote(soak(m.initial(sp, T0), sp, T0, 24.1), sp, T0 + 24.2 * H)
    back = m.rollback(promoted, T0 + 25 * H)
    assert (back.serving, back.standby) == ("r1", "r2")
    assert m.service_selector(back, sp) == {"podforge.io/release": "r1"}
    again = m.rollback(back, T0 + 26 * H)  # a rollback can itself be undone with one switch
    assert (again.serving, again.standby) == ("r2", "r1")


def test_after_a_rollback_the_candidate_soaks_again_from_nothing() -> None:
    sp = spec()
    promoted = m.promote(soak(m.initial(sp, T0), sp, T0, 24.1), sp, T0 + 24.2 * H)
    back = m.reconcile(m.rollback(promoted, T0 + 25 * H), sp, T0 + 25 * H)
    assert back.candidate == "r2" and back.good_since is None
    with pytest.raises(m.Refused, match="never observed"):
        m.promote(back, sp, T0 + 25 * H)


def test_a_new_candidate_in_the_spec_resets_the_soak_and_a_withdrawn_one_ends_it() -> None:
    sp = spec()
    state = soak(m.initial(sp, T0), sp, T0, 10)
    renamed = m.reconcile(state, spec(candidate="r3"), T0 + 11 * H)
    assert renamed.candidate == "r3" and renamed.observations == () and renamed.good_since is None
    withdrawn = m.reconcile(state, spec(candidate=None), T0 + 11 * H)
    assert withdrawn.candidate is None and m.promotion_refusal(withdrawn, spec(None), T0) is not None
    assert m.reconcile(state, sp, T0 + 11 * H) is state  # the same candidate: nothing changes


def test_the_status_says_what_to_change_in_the_spec_after_a_promotion() -> None:
    sp = spec()
    promoted = m.promote(soak(m.initial(sp, T0), sp, T0, 24.1), sp, T0 + 24.2 * H)
    st = m.status(promoted, sp, T0 + 24.3 * H)
    assert st.serving == "r2" and st.standby == "r1" and st.candidate is None
    assert any("set release.active to r2" in line for line in st.drift)


def test_the_state_round_trips_through_json() -> None:
    sp = spec()
    state = m.observe(m.initial(sp, T0), sp, m.Observation(T0, "r2", 0.5, None, 3.0, "test"))
    again = m.ReleaseState.from_json(state.to_json("superpod"))
    assert again == state
    with pytest.raises(ValueError):
        m.ReleaseState.from_json({"schema": 99, "serving": "r1"})


def test_observation_queries_select_the_release_by_its_label() -> None:
    queries = m.observation_queries(spec(), "serving", "r2")
    assert 'label_podforge_io_release="r2"' in queries["ready_fraction"]
    assert 'vllm:time_to_first_token_seconds_bucket{namespace="serving",podforge_io_release="r2"}' in \
        queries["p99_ttft_seconds"]
    assert "vllm:e2e_request_latency_seconds_bucket" in queries["p99_e2e_seconds"]


def test_prometheus_results_become_an_observation_and_empty_or_nan_is_unknown() -> None:
    results = {"ready_fraction": {"resultType": "vector", "result": [{"metric": {}, "value": [T0, "1"]}]},
               "p99_ttft_seconds": {"resultType": "vector", "result": []},
               "p99_e2e_seconds": {"resultType": "vector", "result": [{"metric": {}, "value": [T0, "NaN"]}]}}
    obs = m.observation_from_results("r2", T0, results, "prometheus")
    assert (obs.ready_fraction, obs.p99_ttft_seconds, obs.p99_e2e_seconds) == (1.0, None, None)
    assert obs.problems(spec())
