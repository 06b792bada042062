"""Reminders: turns the appointments service's confirmation note (text/plain, Redis pub/sub) into an SMS text."""

from __future__ import annotations

import re

NOTE = re.compile(r"^CONFIRMED appointment=(?P<appointment>\d+) patient=(?P<patient>\d+) slot=(?P<slot>\S+)$")


def sms(note: str | bytes) -> str:
    """The reminder for a confirmation note; ValueError for anything else."""
    text = note.decode() if isinstance(note, bytes) else note
    match = NOTE.match(text)
    if match is None:
        raise ValueError(f"not a confirmation note: {text[:80]!r}")
    return f"Appointment {match['appointment']} confirmed for {match['slot'].replace('T', ' ')}."


def serve() -> None:
    """Listen on the confirmation channel of $REDIS_URL; ``GET /sent`` lists the SMS texts sent so far."""
    import os
    import threading
    from typing import Any

    import redis

    from clinic.server import Provider

    app = Provider("reminders")
    sent: list[str] = []
    listener = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("clinic.appointments.confirmed")

    def listen() -> None:
        for message in listener.listen():
            try:
                sent.append(sms(message["data"]))
            except ValueError:
                pass  # not a confirmation note: nothing to send

    @app.route("GET", "/sent")
    def sent_texts(params: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, list(sent)

    threading.Thread(target=listen, daemon=True).start()
    app.serve()


if __name__ == "__main__":
    serve()
