"""The front desk's expectations of patients and appointments, as pacts with parameterised provider states."""

from __future__ import annotations

from pathlib import Path

from pact import Pact

from clinic import frontdesk

ADA = {"id": 42, "name": "Ada", "born": "1815-12-10"}
SLOT = "2026-12-07T09:30"


def test_frontdesk_against_patients(pact_dir: Path) -> None:
    pact = Pact("frontdesk", "patients").with_specification("V4")
    (pact.upon_receiving("a request for patient 42")
     .given("a patient exists", id=42, name="Ada", born="1815-12-10")
     .with_request("GET", "/patients/42")
     .will_respond_with(200)
     .with_body(ADA, "application/json"))
    (pact.upon_receiving("a request for an unknown patient")
     .given("no patient exists", id=404)
     .with_request("GET", "/patients/404")
     .will_respond_with(404))
    with pact.serve() as server:
        assert frontdesk.patient(str(server.url), 42) == ADA
        assert frontdesk.patient(str(server.url), 404) is None
    pact.write_file(pact_dir, overwrite=True)


def test_frontdesk_against_appointments(pact_dir: Path) -> None:
    pact = Pact("frontdesk", "appointments").with_specification("V4")
    expected = {"id": 7, "patient_id": 42, "slot": SLOT, "status": "booked"}
    (pact.upon_receiving("a request for appointment 7")
     .given("an appointment exists", id=7, patient_id=42, slot=SLOT)
     .with_request("GET", "/appointments/7")
     .will_respond_with(200)
     .with_body(expected, "application/json"))
    with pact.serve() as server:
        assert frontdesk.appointment(str(server.url), 7) == expected
    pact.write_file(pact_dir, overwrite=True)
