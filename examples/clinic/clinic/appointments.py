"""The appointments provider: ``GET /appointments/{id}`` and ``POST /appointments/{id}/confirm``.

Confirming an appointment PUBLISHes a plain-text note on the Redis pub/sub
channel ``clinic.appointments.confirmed`` ($REDIS_URL), which the reminders
service turns into an SMS.
"""

from __future__ import annotations

import os
from typing import Any

import redis

from clinic.server import Provider

app = Provider("appointments")
APPOINTMENTS: dict[int, dict[str, Any]] = {}
CHANNEL = "clinic.appointments.confirmed"


def note(appointment: dict[str, Any]) -> str:
    """The confirmation note as published: one line of text."""
    return f"CONFIRMED appointment={appointment['id']} patient={appointment['patient_id']} slot={appointment['slot']}"


@app.route("GET", "/appointments/{aid}")
def get_appointment(params: dict[str, str], body: Any) -> tuple[int, Any]:
    appointment = APPOINTMENTS.get(int(params["aid"])) if params["aid"].isdigit() else None
    return (200, appointment) if appointment else (404, {"error": f"no appointment {params['aid']}"})


@app.route("POST", "/appointments/{aid}/confirm")
def confirm(params: dict[str, str], body: Any) -> tuple[int, Any]:
    appointment = APPOINTMENTS.get(int(params["aid"])) if params["aid"].isdigit() else None
    if appointment is None:
        return 404, {"error": f"no appointment {params['aid']}"}
    appointment["status"] = "confirmed"
    redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).publish(CHANNEL, note(appointment).encode())
    return 200, appointment


@app.state("an appointment exists")
def appointment_exists(params: dict[str, Any], action: str) -> None:
    appointment_id = int(params["id"])
    if action == "teardown":
        APPOINTMENTS.pop(appointment_id, None)
    else:
        APPOINTMENTS[appointment_id] = {"id": appointment_id, "patient_id": int(params["patient_id"]), "slot": str(params["slot"]), "status": "booked"}


if __name__ == "__main__":
    app.serve()
