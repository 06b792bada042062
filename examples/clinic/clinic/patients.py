"""The patients provider: ``GET /patients/{id}``, ``POST /patients``, ``DELETE /patients/{id}``."""

from __future__ import annotations

from typing import Any

from clinic.server import Provider

app = Provider("patients")
PATIENTS: dict[int, dict[str, Any]] = {}


def record(patient_id: int, name: str, born: str) -> dict[str, Any]:
    """A patient as the API shows it."""
    return {"id": patient_id, "name": name, "born": born}


@app.route("GET", "/patients/{pid}")
def get_patient(params: dict[str, str], body: Any) -> tuple[int, Any]:
    patient = PATIENTS.get(int(params["pid"])) if params["pid"].isdigit() else None
    return (200, patient) if patient else (404, {"error": f"no patient {params['pid']}"})


@app.route("POST", "/patients")
def add_patient(params: dict[str, str], body: Any) -> tuple[int, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("born"), str):
        return 422, {"error": "name and born (YYYY-MM-DD) are required"}
    patient_id = max(PATIENTS, default=0) + 1
    PATIENTS[patient_id] = record(patient_id, body["name"], body["born"])
    return 201, PATIENTS[patient_id]


@app.state("a patient exists")
def patient_exists(params: dict[str, Any], action: str) -> None:
    patient_id = int(params["id"])
    if action == "teardown":
        PATIENTS.pop(patient_id, None)
    else:
        PATIENTS[patient_id] = record(patient_id, str(params["name"]), str(params.get("born", "1815-12-10")))


@app.state("no patient exists")
def no_patient(params: dict[str, Any], action: str) -> None:
    PATIENTS.pop(int(params["id"]), None)


if __name__ == "__main__":
    app.serve()
