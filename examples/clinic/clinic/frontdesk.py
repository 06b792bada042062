"""The front desk: shows a patient and their appointment (consumer of patients and appointments)."""

from __future__ import annotations

from typing import Any

import httpx


def patient(base_url: str, patient_id: int) -> dict[str, Any] | None:
    """The patient, or None when the patients service does not know them."""
    response = httpx.get(f"{base_url.rstrip('/')}/patients/{patient_id}", timeout=5)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    data = response.json()
    return {"id": data["id"], "name": data["name"], "born": data["born"]}


def appointment(base_url: str, appointment_id: int) -> dict[str, Any]:
    """The appointment as the desk shows it."""
    response = httpx.get(f"{base_url.rstrip('/')}/appointments/{appointment_id}", timeout=5)
    response.raise_for_status()
    data = response.json()
    return {"id": data["id"], "patient_id": data["patient_id"], "slot": data["slot"], "status": data["status"]}


def serve() -> None:
    """The desk's own backend: ``GET /desk/{patient_id}`` shows the patient from $PATIENTS_URL."""
    import os

    from clinic.server import Provider

    app = Provider("frontdesk")

    @app.route("GET", "/desk/{pid}")
    def desk(params: dict[str, str], body: Any) -> tuple[int, Any]:
        found = patient(os.environ["PATIENTS_URL"], int(params["pid"])) if params["pid"].isdigit() else None
        return (200, found) if found else (404, {"error": f"no patient {params['pid']}"})

    app.serve()


if __name__ == "__main__":
    serve()
