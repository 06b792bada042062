"""interlock.secrets: which values are secret, how they are masked, and the scan that refuses sealing. No servers."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from interlock import runspec
from interlock import ledger, secrets
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.engine import gate_results
from interlock.phases import bundle
from interlock.context import RunContext
from interlock.secrets import MASK, Redactor, collect
from tests.support import config_head

TOKEN = "tok-3f9a61c2e8d4"  # by name
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2  # by shape
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----"

TOML = config_head("shop") + """
[services.catalog]

[environments.integration]
secrets = ["SHOP_SIGNING"]

[environments.integration.vars]
SHOP_SIGNING = "signing-value-77"
SHOP_DB_URL = "postgresql://shop:db-pass-4411@127.0.0.1:5432/shop"
PLAIN = "not-a-secret-at-all"

[environments.integration.services.catalog]
url = "http://127.0.0.1:9/"
env = { CATALOG_API_KEY = "catalog-key-9921" }

[environments.integration.stores.db]
kind = "postgresql"
url = "postgresql://app:store-pass-5150@127.0.0.1:5432/app"
"""


def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunContext:
    monkeypatch.setenv("CI_DEPLOY_TOKEN", "deploy-token-8080")
    (tmp_path / "interlock.toml").write_text(TOML, "utf-8")
    return RunContext(runspec.build(load(tmp_path / "interlock.toml"), "integration"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (True, "test"), "run1")


# --- which values are secret ---------------------------------------------------------------------------------

def test_collects_by_name_and_ignores_short_values_and_locations() -> None:
    found = collect([("API_TOKEN", TOKEN), ("DB_PASSWORD", "abc"), ("SSH_KEY_FILE", "/root/.ssh/id_rsa"), ("HOME", "/root/home")])
    assert found == {TOKEN: "API_TOKEN"}


def test_collects_marked_names_whatever_they_are_called() -> None:
    assert collect([("SHOP_SIGNING", "signing-value"), ("OTHER", "other-value")], marked=["SHOP_SIGNING"]) == {"signing-value": "SHOP_SIGNING"}


@pytest.mark.parametrize(("value", "secret"), [
    ("postgresql://shop:s3cr3t-pw@db:5432/shop", "s3cr3t-pw"),
    ("Server=db;User Id=sa;Password=Adm1n-pass;Encrypt=true", "Adm1n-pass"),
    ("https://h/x?user=a&password=qs-pass-99", "qs-pass-99"),
    (f"Bearer {GHP}", GHP),
    ("glpat-" + "x7Y8z9" * 4, "glpat-" + "x7Y8z9" * 4),
    ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"),
    (PEM, PEM),
])
def test_collects_values_that_look_like_credentials_whatever_the_name(value: str, secret: str) -> None:
    assert collect([("SOMETHING", value)])[secret] == "SOMETHING"


def test_the_environment_gives_marked_named_shaped_and_process_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(tmp_path, monkeypatch)
    labels = ctx.redactor.labels
    assert labels["signing-value-77"] == "SHOP_SIGNING"  # marked in the config
    assert labels["catalog-key-9921"] == "CATALOG_API_KEY"  # a service's env, by name
    assert labels["db-pass-4411"] == "SHOP_DB_URL"  # a URL's password
    assert labels["store-pass-5150"] == "stores.db.url"
    assert labels["deploy-token-8080"] == "CI_DEPLOY_TOKEN"  # the process environment the run passes on
    assert "not-a-secret-at-all" not in labels


# --- masking -------------------------------------------------------------------------------------------------

def test_masks_every_written_form_of_a_value() -> None:
    odd = 'pa"ss\\wörd-1'
    redactor = Redactor({odd: "DB_PASSWORD", TOKEN: "API_TOKEN"})
    for text in (odd, json.dumps(odd), json.dumps(odd, ensure_ascii=False), repr(odd), f"x={TOKEN}&y"):
        masked = redactor.text(f"<{text}>")
        assert TOKEN not in masked and "ss\\" not in masked and "ss\\\\" not in masked and MASK in masked, masked


def test_masks_a_longer_value_whole_not_a_shorter_one_inside_it() -> None:
    redactor = Redactor({"secret-value": "A_SECRET", "secret-value-and-more": "B_SECRET"})
    assert redactor.text("[secret-value-and-more]") == "[***]"


def test_masks_each_line_of_a_multiline_key() -> None:
    redactor = Redactor(collect([("SIGNING_KEY", PEM)]))
    line = PEM.splitlines()[1]
    assert redactor.text(f"E   key line {line}") == "E   key line ***"
    assert "BEGIN PRIVATE KEY" in redactor.text("-----BEGIN PRIVATE KEY-----")  # the header is no secret


def test_masks_url_passwords_even_when_unknown() -> None:
    text = Redactor().text("connect to amqp://guest:topsecret@127.0.0.1:5672/ failed (http://u:p4ss@[::1/)")
    assert "topsecret" not in text and "p4ss" not in text and "guest:***@127.0.0.1" in text


def test_masks_data_and_events() -> None:
    @dataclass
    class Happened:
        reason: str
        details: list[str]
        count: int

    redactor = Redactor({TOKEN: "API_TOKEN"})
    assert redactor.data({f"k-{TOKEN}": [TOKEN, 3, None], "n": (TOKEN,)}) == {"k-***": ["***", 3, None], "n": ["***"]}
    event = redactor.event(Happened(f"failed: {TOKEN}", [TOKEN], 1))
    assert event == Happened("failed: ***", ["***"], 1)
    seen: list[Happened] = []
    redactor.emitter(seen.append)(Happened(TOKEN, [], 2))
    assert seen == [Happened("***", [], 2)]


def test_stream_masks_values_split_across_every_chunk_boundary() -> None:
    redactor = Redactor({TOKEN: "API_TOKEN", GHP: "GH"})
    data = f"start {TOKEN} middle {GHP}{TOKEN} end".encode()
    expected = redactor.text(data.decode()).encode()
    for size in range(1, len(data) + 1):
        stream = redactor.stream()
        out = b"".join(stream.feed(data[i:i + size]) for i in range(0, len(data), size)) + stream.flush()
        assert out == expected, size


def test_redact_file_rewrites_in_chunks_and_keeps_clean_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "CHUNK", 7)  # every value straddles chunk boundaries
    redactor = Redactor({TOKEN: "API_TOKEN"})
    log, clean = tmp_path / "pytest.log", tmp_path / "clean.log"
    log.write_bytes(f"line 1\nE  AssertionError: {TOKEN} != x\n{TOKEN}".encode() * 20)
    clean.write_bytes(b"nothing here\n")
    before = clean.stat().st_mtime_ns
    assert redactor.redact_file(log) and not redactor.redact_file(clean)
    assert TOKEN.encode() not in log.read_bytes() and log.read_bytes().count(b"***") == 40
    assert clean.stat().st_mtime_ns == before and not list(tmp_path.glob(".*.tmp"))


# --- the scan before sealing ---------------------------------------------------------------------------------

def test_scan_finds_values_in_binary_gzip_and_zip_content(tmp_path: Path) -> None:
    redactor = Redactor({TOKEN: "API_TOKEN"})
    raw, gz, multi, zipped, clean = (tmp_path / n for n in ("a.bin", "a.gz", "b.gz", "a.zip", "c.gz"))
    raw.write_bytes(b"\x00\xff" + TOKEN.encode() + b"\x00")
    gz.write_bytes(gzip.compress(b"x" * 100_000 + TOKEN.encode()))
    multi.write_bytes(gzip.compress(b"first member") + gzip.compress(TOKEN.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner/trace.txt", f"token={TOKEN}")
    zipped.write_bytes(buffer.getvalue())
    clean.write_bytes(gzip.compress(b"no secrets"))
    assert [redactor.scan(p) for p in (raw, gz, multi, zipped)] == [{"API_TOKEN"}] * 4
    assert redactor.scan(clean) == set() and redactor.scan(gz, decompress=False) == set()


def test_scan_refuses_what_it_cannot_read_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "MAX_EXPANDED", 1000)
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"\0" * 100_000))
    assert Redactor({TOKEN: "API_TOKEN"}).scan(bomb) == {secrets.UNSCANNABLE}


def test_a_refusal_names_the_variables_or_says_the_file_cannot_be_scanned() -> None:
    assert bundle._why("logs/a.bin", ["API_TOKEN", "DB_PASSWORD"]) == "logs/a.bin holds the value of API_TOKEN, DB_PASSWORD"
    assert bundle._why("logs/b.gz", [secrets.UNSCANNABLE]) == "logs/b.gz cannot be scanned to the end (more than 1 GiB once decompressed)"


def produced(ctx: RunContext) -> None:
    """Ledger the files made by hand here as the steps that write them would (bundle seals only what a step produced)."""
    read = ledger.read(ctx.artifacts.root)
    known = {rel: made.sha256 for rel, made in ledger.replay(read.entries).items()} if read else {}
    ledger.line_for_step(ctx, "3.3", "step", "stands for the steps that wrote these files", known, *ledger.changes(known, ledger.tracked(ctx.artifacts.root)))


def test_sealing_redacts_text_and_refuses_a_secret_it_cannot_redact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(tmp_path, monkeypatch)
    root = ctx.artifacts.root
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "service-catalog.log").write_text("GET /x Authorization: catalog-key-9921\n", "utf-8")
    (root / "logs" / "trace.gz").write_bytes(gzip.compress(b"SHOP_SIGNING=signing-value-77"))
    ctx.artifacts.write_text("forward-recommendations.md", "# Recommendations\n")
    (root / "INTEGRATION-EVIDENCE.zip").write_bytes(b"an earlier bundle")
    produced(ctx)

    outcome = bundle.run(ctx)

    assert outcome.status == "fail" and "logs/trace.gz" in (outcome.reason or "") and "SHOP_SIGNING" in (outcome.reason or "")
    assert "signing-value-77" not in (outcome.reason or "")
    assert (root / "logs" / "service-catalog.log").read_text("utf-8") == "GET /x Authorization: ***\n"  # redacted in place
    assert not (root / "INTEGRATION-EVIDENCE.zip").exists()
    gate = gate_results(ctx.artifacts, ctx.loaded, (4,))["gates"][0]
    condition = next(c for c in gate["conditions"] if c["id"] == "bundle.problems")
    assert gate["status"] == "fail" and condition["status"] == "fail"
    assert "sealing refused" in condition["reason"] and "logs/trace.gz" in condition["reason"] and "signing-value-77" not in condition["reason"]

    (root / "logs" / "trace.gz").unlink()
    produced(ctx)
    assert bundle.run(ctx).status == "pass"
    assert not (root / "sealing-refused.txt").exists()
    with zipfile.ZipFile(root / "INTEGRATION-EVIDENCE.zip") as archive:
        assert not any(b"catalog-key-9921" in archive.read(name) for name in archive.namelist())


def test_artifacts_written_by_a_run_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(tmp_path, monkeypatch)
    ctx.artifacts.write_text("integration-test-plan.md", "uses deploy-token-8080\n")
    assert ctx.artifacts.path("integration-test-plan.md").read_text("utf-8") == "uses ***\n"


def test_step_1_2_says_when_a_marked_secret_cannot_be_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.phases.environment import unmasked_secrets

    (tmp_path / "interlock.toml").write_text(TOML.replace('secrets = ["SHOP_SIGNING"]', 'secrets = ["SHOP_SIGNING", "SHOP_PIN", "UNSET_ONE"]'), "utf-8")
    monkeypatch.setenv("SHOP_PIN", "1234")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    ctx = RunContext(runspec.build(load(tmp_path / "interlock.toml"), "integration"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (True, "test"), "run1")
    notes = unmasked_secrets(ctx)
    assert [n.split()[0] for n in notes] == ["SHOP_PIN", "UNSET_ONE"] and "shorter than 6" in notes[0] and "1234" not in " ".join(notes)


def test_masks_tells_whether_json_text_holds_a_secret_however_it_is_indented() -> None:
    redactor = Redactor({TOKEN: "API_TOKEN"})
    for indent in (None, 2):
        assert redactor.masks(json.dumps({"out": [f"uses {TOKEN}"]}, indent=indent))
        assert redactor.masks(json.dumps({"url": "amqp://guest:pw@host/"}, indent=indent))
        assert not redactor.masks(json.dumps({"out": ["nothing here"], "url": "amqp://host/"}, indent=indent))
