"""The reminders service's expectation of the confirmation note: a text/plain message on Redis pub/sub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pact import Pact

from clinic import reminders

NOTE = "CONFIRMED appointment=7 patient=42 slot=2026-12-07T09:30"


def test_reminders_against_appointments(pact_dir: Path) -> None:
    pact = Pact("reminders", "appointments").with_specification("V4")
    (pact.upon_receiving("an appointment confirmed note", "Async")
     .given("an appointment exists", id=7, patient_id=42, slot="2026-12-07T09:30")
     .with_body(NOTE, "text/plain"))
    sent: list[str] = []

    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        assert body is not None
        sent.append(reminders.sms(body))

    pact.verify(handler, "Async")
    assert sent == ["Appointment 7 confirmed for 2026-12-07 09:30."]
    pact.write_file(pact_dir, overwrite=True)
