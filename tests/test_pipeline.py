"""The plan's first steps: a model choice resolved to its engine and provisioned; ids checked early."""

from __future__ import annotations

import pytest

from openai_api_simulator.backends import DuplicateModel
from openai_api_simulator.config import Settings
from openai_api_simulator.engines.base import Identity
from openai_api_simulator.pipeline import ModelChoice, RunPlan, check_upstream_ids, provision_model
from openai_api_simulator.provision import ModelSpecError, ProvisionOptions
from tests.support.engines import ExampleEngine, register


def test_a_choice_is_provisioned_by_the_engine_that_claims_it(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    engine = ExampleEngine()
    prepared = provision_model(ModelChoice("example://tiny"), ProvisionOptions(), {"example": engine})
    assert prepared.engine is engine and engine.provisioned == [("example://tiny", True, True)]
    assert prepared.identity == Identity("tiny", "example-lab")
    assert prepared.describe() == ["example model tiny"]
    named = provision_model(ModelChoice("example://tiny", name="mine"), ProvisionOptions(), {"example": engine})
    assert named.identity == Identity("mine", "example-lab")  # --name wins, the publisher stays


def test_pull_may_leave_out_the_runtime_or_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    engine = ExampleEngine()
    provision_model(ModelChoice("example://tiny"), ProvisionOptions(), {"example": engine}, runtime=False)
    provision_model(ModelChoice("example://tiny"), ProvisionOptions(), {"example": engine}, weights=False)
    assert engine.provisioned == [("example://tiny", False, True), ("example://tiny", True, False)]


def test_a_provisioning_error_comes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    with pytest.raises(ModelSpecError, match="not an example"):
        provision_model(ModelChoice("example://"), ProvisionOptions(), {"example": ExampleEngine()})


def test_an_upstream_with_a_fake_models_id_is_refused_before_any_download() -> None:
    plan = RunPlan(Settings(aliases=("gpt-4o",)), upstreams={"gpt-4o": ["http://127.0.0.1:9"]})
    with pytest.raises(DuplicateModel, match="'gpt-4o' is served by the built-in fake model and by the upstream"):
        check_upstream_ids(plan)
    check_upstream_ids(RunPlan(Settings(), upstreams={"llama3": ["http://127.0.0.1:9"]}))
