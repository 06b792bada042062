"""write_bundle: a deterministic, streamed, atomic BagIt bag in a zip."""

from __future__ import annotations

import hashlib
import os
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import bagit
import pytest

from interlock.evidence import BUNDLE_NAME, SIGNOFF_NAME, bundle_subjects, verify_bundle, write_bundle
from interlock.evidence import bundle as bundle_module

from ._support import ARTIFACTS, BAG_INFO, BUNDLE_ENTRIES, PAYLOAD_FILES, KeyPair, seal


def _bundle(artifacts: Path, target: Path, **kwargs: object) -> bytes:
    write_bundle(artifacts, kwargs.pop("files", PAYLOAD_FILES), target, bag_info=kwargs.pop("bag_info", BAG_INFO),
                 **kwargs)  # type: ignore[arg-type]
    return target.read_bytes()


def test_same_inputs_give_identical_bytes(artifacts: Path, tmp_path: Path) -> None:
    first = _bundle(artifacts, tmp_path / "one.zip", extra_tag_files={SIGNOFF_NAME: b"{}\n"})
    for path in artifacts.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # mtimes must not leak into the zip
    old_umask = os.umask(0o077)
    try:
        second = _bundle(artifacts, tmp_path / "two.zip", files=list(reversed(PAYLOAD_FILES)),
                         bag_info=dict(reversed(list(BAG_INFO.items()))), extra_tag_files={SIGNOFF_NAME: b"{}\n"})
    finally:
        os.umask(old_umask)
    assert first == second


def test_different_content_gives_different_bytes(artifacts: Path, tmp_path: Path) -> None:
    first = _bundle(artifacts, tmp_path / "one.zip")
    (artifacts / "defect-log.csv").write_bytes(b"id,severity,status\n")
    assert _bundle(artifacts, tmp_path / "two.zip") != first


def test_entries_are_pinned_and_ordered(artifacts: Path, tmp_path: Path) -> None:
    _bundle(artifacts, tmp_path / "b.zip", extra_tag_files={SIGNOFF_NAME: b"{}\n"})
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == BUNDLE_ENTRIES
        assert zf.comment == b""
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3
        binary = info.filename.endswith(".png")
        assert info.compress_type == (zipfile.ZIP_STORED if binary else zipfile.ZIP_DEFLATED), info.filename
        assert info.extra == b""
        assert not info.flag_bits & 0x08  # no data descriptors


def test_tag_files_content(artifacts: Path, tmp_path: Path) -> None:
    _bundle(artifacts, tmp_path / "b.zip", extra_tag_files={SIGNOFF_NAME: b"{}\n"})
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.read("bagit.txt") == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
        payload_bytes = sum(len(c) for c in ARTIFACTS.values()) + zf.getinfo(
            "data/integration-evidence-manifest.json").file_size
        assert zf.read("bag-info.txt").decode() == (
            "External-Identifier: run-0001\n"
            f"Payload-Oxum: {payload_bytes}.5\n"
            "Source-Organization: interlock tests\n"
        )
        manifest_lines = zf.read("manifest-sha256.txt").decode().splitlines()
        assert manifest_lines[0] == f"{hashlib.sha256(ARTIFACTS['defect-log.csv']).hexdigest()}  data/defect-log.csv"
        assert len(manifest_lines) == 5
        tag_lines = zf.read("tagmanifest-sha256.txt").decode().splitlines()
        assert [line.split("  ")[1] for line in tag_lines] == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"]
        for line in tag_lines:
            digest, name = line.split("  ")
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        assert SIGNOFF_NAME not in zf.read("tagmanifest-sha256.txt").decode()


def test_unzipped_bundle_is_a_valid_bag(signed_bundle: Path, tmp_path: Path) -> None:
    bag_dir = tmp_path / "bag"
    with zipfile.ZipFile(signed_bundle) as zf:
        zf.extractall(bag_dir)
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # raises on any problem
    assert bag.version_info == (1, 0)
    assert bag.info["Payload-Oxum"].endswith(".5")
    assert "Bagging-Date" not in bag.info


def test_bagit_library_rejects_a_changed_payload_byte(signed_bundle: Path, tmp_path: Path) -> None:
    bag_dir = tmp_path / "bag"
    with zipfile.ZipFile(signed_bundle) as zf:
        zf.extractall(bag_dir)
    target = bag_dir / "data" / "defect-log.csv"
    content = bytearray(target.read_bytes())
    content[5] ^= 0x01
    target.write_bytes(bytes(content))
    with pytest.raises(bagit.BagValidationError) as caught:
        bagit.Bag(str(bag_dir)).validate()
    assert any("defect-log.csv" in str(d) for d in caught.value.details)


def test_large_payload_is_streamed(tmp_path: Path, keys: KeyPair) -> None:
    artifacts = tmp_path / "art"
    artifacts.mkdir()
    chunk = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    with (artifacts / "big.log").open("wb") as fp:
        for _ in range(24):
            fp.write(chunk)
            digest.update(chunk)
    tracemalloc.start()
    try:
        write_bundle(artifacts, ["big.log"], tmp_path / "big.zip", bag_info={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes: the 24 MiB file was not streamed"
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert zf.read("manifest-sha256.txt") == f"{digest.hexdigest()}  data/big.log\n".encode()
        assert zf.read("bag-info.txt") == f"Payload-Oxum: {24 << 20}.1\n".encode()


def test_zip64_entries_stay_valid(artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "ZIP64_THRESHOLD", 0)  # as if every artifact were > 1 GiB
    _bundle(artifacts, tmp_path / "z64.zip")
    with zipfile.ZipFile(tmp_path / "z64.zip") as zf:
        assert zf.testzip() is None
        zf.extractall(tmp_path / "bag")
    bagit.Bag(str(tmp_path / "bag")).validate()


def test_write_is_atomic(artifacts: Path, tmp_path: Path) -> None:
    target = tmp_path / BUNDLE_NAME
    before = _bundle(artifacts, target)
    with pytest.raises(FileNotFoundError):
        write_bundle(artifacts, [*PAYLOAD_FILES, "ghost.json"], target, bag_info=BAG_INFO)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_manifest_paths_are_percent_encoded(tmp_path: Path, keys: KeyPair) -> None:
    artifacts = tmp_path / "art"
    artifacts.mkdir()
    (artifacts / "100% done.txt").write_text("ok")
    write_bundle(artifacts, ["100% done.txt"], tmp_path / "p.zip", bag_info={})
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        assert zf.read("manifest-sha256.txt").decode().endswith("  data/100%25 done.txt\n")
        assert "data/100% done.txt" in zf.namelist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bag_info": {"Payload-Oxum": "1.1"}}, "Payload-Oxum is computed"),
        ({"bag_info": {"Note": "two\nlines"}}, "single-line"),
        ({"bag_info": {"Bad:Label": "x"}}, "without ':'"),
        ({"extra_tag_files": {"bagit.txt": b""}}, "reserved BagIt name"),
        ({"extra_tag_files": {"manifest-md5.txt": b""}}, "reserved BagIt name"),
        ({"extra_tag_files": {"sub/signoff.json": b""}}, "at the bag root"),
        ({"extra_tag_files": {"../signoff.json": b""}}, "'..' component"),
        ({"files": ["../outside.json"]}, "'..' component"),
        ({"files": ["defect-log.csv", "defect-log.csv"]}, "listed twice"),
    ],
)
def test_bad_inputs_are_refused(artifacts: Path, tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _bundle(artifacts, tmp_path / "b.zip", **kwargs)
    assert not (tmp_path / "b.zip").exists()


def test_bundle_cannot_contain_itself(artifacts: Path) -> None:
    _bundle(artifacts, artifacts / BUNDLE_NAME)
    with pytest.raises(ValueError, match="cannot contain itself"):
        _bundle(artifacts, artifacts / BUNDLE_NAME, files=[*PAYLOAD_FILES, BUNDLE_NAME])


def test_bundle_subjects_are_the_sealed_digests(signed_bundle: Path) -> None:
    with zipfile.ZipFile(signed_bundle) as zf:
        expected = {
            name: hashlib.sha256(zf.read(name)).hexdigest()
            for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt", "data/integration-evidence-manifest.json")
        }
    assert bundle_subjects(signed_bundle) == expected


def test_resealing_is_reproducible(artifacts: Path, keys: KeyPair, tmp_path: Path) -> None:
    first = seal(artifacts, keys).read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(artifacts, copy)
    (copy / BUNDLE_NAME).unlink()
    assert seal(copy, keys).read_bytes() == first
    assert verify_bundle(copy / BUNDLE_NAME, keys.public).ok


# -- compression policy, limits, the hashing pipeline ------------------------------


def _compress_types(zip_path: Path) -> dict[str, int]:
    with zipfile.ZipFile(zip_path) as zf:
        return {i.filename: i.compress_type for i in zf.infolist()}


def test_only_small_text_is_deflated(tmp_path: Path) -> None:
    artifacts = tmp_path / "art"
    (artifacts / "logs").mkdir(parents=True)
    line = b"2025-06-01T12:00:00Z INFO orders GET /orders/1 200\n"
    (artifacts / "logs/big.log").write_bytes(line * ((bundle_module.DEFLATE_MAX_ENTRY // len(line)) + 1))
    (artifacts / "logs/small.log").write_bytes(line * 10)
    (artifacts / "report.json").write_bytes(b'{"passed": 3}\n' * 10)
    (artifacts / "traces.tar.gz").write_bytes(bytes(range(256)) * 4)
    (artifacts / "heap.bin").write_bytes(bytes(1000))
    files = ["logs/big.log", "logs/small.log", "report.json", "traces.tar.gz", "heap.bin"]
    write_bundle(artifacts, files, tmp_path / "b.zip", bag_info={})
    types = _compress_types(tmp_path / "b.zip")
    assert {n: t for n, t in types.items() if n.startswith("data/")} == {
        "data/heap.bin": zipfile.ZIP_STORED,  # binary
        "data/logs/big.log": zipfile.ZIP_STORED,  # text, but larger than DEFLATE_MAX_ENTRY
        "data/logs/small.log": zipfile.ZIP_DEFLATED,
        "data/report.json": zipfile.ZIP_DEFLATED,
        "data/traces.tar.gz": zipfile.ZIP_STORED,  # already compressed
    }
    assert types["bag-info.txt"] == types["manifest-sha256.txt"] == zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("data/logs/big.log") == (artifacts / "logs/big.log").read_bytes()


def test_the_deflate_budget_bounds_the_work_and_keeps_determinism(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = tmp_path / "art"
    artifacts.mkdir()
    for name in ("a.log", "b.log", "c.log"):
        (artifacts / name).write_bytes(b"x" * 600)
    monkeypatch.setattr(bundle_module, "DEFLATE_BUDGET", 1000)  # room for one 600-byte entry
    write_bundle(artifacts, ["c.log", "a.log", "b.log"], tmp_path / "one.zip", bag_info={})
    write_bundle(artifacts, ["b.log", "c.log", "a.log"], tmp_path / "two.zip", bag_info={})
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    types = _compress_types(tmp_path / "one.zip")
    assert [types[f"data/{n}"] for n in ("a.log", "b.log", "c.log")] == [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_STORED]


@pytest.mark.parametrize(
    ("rel", "size", "left", "expected"),
    [
        ("report.json", 100, 1 << 20, True),
        ("logs/a.log", 1 << 20, 1 << 20, True),
        ("logs/a.log", (1 << 20) + 1, 8 << 20, False),
        ("logs/a.log", 100, 99, False),
        ("plan.md", 10, 100, True),
        ("diagram.svg", 10, 100, True),
        ("shot.png", 10, 100, False),
        ("dump.bin", 10, 100, False),
        ("archive.zip", 10, 100, False),
    ],
)
def test_deflates(rel: str, size: int, left: int, expected: bool) -> None:
    assert bundle_module.deflates(rel, size, left) is expected


def test_an_entry_beyond_the_verifiers_limit_is_refused(
    artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / BUNDLE_NAME
    before = _bundle(artifacts, target)
    monkeypatch.setattr(bundle_module, "MAX_ENTRY_BYTES", 1000)  # the evidence manifest, first in order, is larger
    with pytest.raises(ValueError, match=r"integration-evidence-manifest.json: \d+ bytes is more than the 1000 bytes a bundle entry"):
        write_bundle(artifacts, PAYLOAD_FILES, target, bag_info=BAG_INFO)
    monkeypatch.undo()
    monkeypatch.setattr(bundle_module, "MAX_TOTAL_BYTES", 2000)
    with pytest.raises(ValueError, match="would hold more than 2000 bytes in all"):
        write_bundle(artifacts, PAYLOAD_FILES, target, bag_info=BAG_INFO)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_writer_and_verifier_share_the_limits() -> None:
    from interlock.evidence import _common, verify

    assert bundle_module.MAX_ENTRY_BYTES == _common.MAX_ENTRY_BYTES
    defaults = verify.verify_bundle.__kwdefaults__
    assert (defaults["max_entry_bytes"], defaults["max_total_bytes"]) == (_common.MAX_ENTRY_BYTES, _common.MAX_TOTAL_BYTES)


def test_early_writeback_does_not_change_a_byte(artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _bundle(artifacts, tmp_path / "ref.zip")
    calls: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(bundle_module, "WRITEBACK_STEP", 1)
    monkeypatch.setattr(os, "posix_fadvise", spy)
    assert _bundle(artifacts, tmp_path / "hinted.zip") == reference
    assert calls and all(b[0] == a[0] + a[1] for a, b in zip(calls, calls[1:]))  # contiguous ranges, each once
    monkeypatch.delattr(os, "posix_fadvise")  # platforms without it
    assert _bundle(artifacts, tmp_path / "plain.zip") == reference


@pytest.mark.parametrize("sizes", [[], [1], [300_000], [1 << 20, 1 << 20, 5], [10, 400_000, 3, 700_000, 700_000]])
def test_pipelined_sha256_equals_hashlib_with_reused_buffers(sizes: list[int]) -> None:
    from interlock.evidence._common import PipelinedSha256

    data = os.urandom(sum(sizes))
    buffers = (bytearray(1 << 20), bytearray(1 << 20))
    with PipelinedSha256.worker() as pool:
        digest, offset = PipelinedSha256(pool), 0
        for turn, size in enumerate(sizes):
            buffer = buffers[turn % 2]  # refilled while the other one may still be hashing
            buffer[:size] = data[offset:offset + size]
            digest.update(memoryview(buffer)[:size])
            offset += size
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
