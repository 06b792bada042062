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
        assert info.compress_type == zipfile.ZIP_DEFLATED
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
            f"Payload-Oxum: {payload_bytes}.4\n"
            "Source-Organization: interlock tests\n"
        )
        manifest_lines = zf.read("manifest-sha256.txt").decode().splitlines()
        assert manifest_lines[0] == f"{hashlib.sha256(ARTIFACTS['defect-log.csv']).hexdigest()}  data/defect-log.csv"
        assert len(manifest_lines) == 4
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
    assert bag.info["Payload-Oxum"].endswith(".4")
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
            for name in ("manifest-sha256.txt", "data/integration-evidence-manifest.json")
        }
    assert bundle_subjects(signed_bundle) == expected


def test_resealing_is_reproducible(artifacts: Path, keys: KeyPair, tmp_path: Path) -> None:
    first = seal(artifacts, keys).read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(artifacts, copy)
    (copy / BUNDLE_NAME).unlink()
    assert seal(copy, keys).read_bytes() == first
    assert verify_bundle(copy / BUNDLE_NAME, keys.public).ok
