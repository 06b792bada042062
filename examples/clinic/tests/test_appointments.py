"""The appointments provider over HTTP, and the note it PUBLISHes on Redis when an appointment is confirmed."""

from __future__ import annotations

import httpx
import pytest
import redis

from clinic import reminders

pytestmark = pytest.mark.integration


def test_confirming_an_appointment_publishes_a_note_reminders_understand(appointments_url: str, redis_url: str) -> None:
    state = {"state": "an appointment exists", "params": {"id": 9, "patient_id": 42, "slot": "2026-12-08T14:00"}, "action": "setup"}
    assert httpx.post(f"{appointments_url}/_pact/provider-states", json=state).status_code == 200
    subscriber = redis.Redis.from_url(redis_url).pubsub()
    subscriber.subscribe("clinic.appointments.confirmed")
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    confirmed = httpx.post(f"{appointments_url}/appointments/9/confirm")
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "confirmed")
    message = subscriber.get_message(timeout=5)
    subscriber.close()
    assert message is not None and message["type"] == "message"
    assert reminders.sms(message["data"]) == "Appointment 9 confirmed for 2026-12-08 14:00."


def test_an_unknown_appointment_is_a_404(appointments_url: str) -> None:
    assert httpx.get(f"{appointments_url}/appointments/12345").status_code == 404
    assert httpx.post(f"{appointments_url}/appointments/12345/confirm").status_code == 404
