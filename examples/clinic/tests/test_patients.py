"""The patients provider over HTTP."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_a_registered_patient_can_be_read_back(patients_url: str) -> None:
    created = httpx.post(f"{patients_url}/patients", json={"name": "Grace", "born": "1906-12-09"})
    assert created.status_code == 201
    patient = created.json()
    assert httpx.get(f"{patients_url}/patients/{patient['id']}").json() == {"id": patient["id"], "name": "Grace", "born": "1906-12-09"}


def test_an_incomplete_patient_is_refused(patients_url: str) -> None:
    assert httpx.post(f"{patients_url}/patients", json={"name": "Grace"}).status_code == 422


def test_the_state_endpoint_creates_the_patient_its_params_name(patients_url: str) -> None:
    state = {"state": "a patient exists", "params": {"id": 77, "name": "Lin"}, "action": "setup"}
    assert httpx.post(f"{patients_url}/_pact/provider-states", json=state).status_code == 200
    assert httpx.get(f"{patients_url}/patients/77").json()["name"] == "Lin"
    assert httpx.post(f"{patients_url}/_pact/provider-states", json={**state, "action": "teardown"}).status_code == 200
    assert httpx.get(f"{patients_url}/patients/77").status_code == 404


def test_an_unknown_state_is_a_404(patients_url: str) -> None:
    assert httpx.post(f"{patients_url}/_pact/provider-states", json={"state": "a dragon exists", "params": {}}).status_code == 404
