"""`python -m tools.verify FILE` (what `python3 bw.py verify` runs) in a process whose sockets are
blocked: it verifies with no network, prints each check and exits 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from libs.credentials.tests.test_verify_bundle import (
    NOW,
    Issuer,
    build_bundle,
    did_document,
    status_list_payload,
)
from libs.credentials.verify import CHECKS

ROOT = Path(__file__).resolve().parents[3]
# Every way to the network raises in the child before the verifier is imported.
NO_NETWORK = """
import runpy, socket, sys

def blocked(*args, **kwargs):
    raise OSError("network blocked by the test")

class BlockedSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        blocked()

socket.socket = BlockedSocket
socket.create_connection = blocked
socket.getaddrinfo = blocked
socket.socketpair = blocked
sys.argv = ["verify", *sys.argv[1:]]
runpy.run_module(sys.argv.pop(1), run_name="__main__")
"""


def run_offline(module: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_NETWORK, module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


AT = ["--at", NOW.isoformat()]


def test_the_guard_blocks_the_network(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:4222', timeout=2)\n"
    )
    result = run_offline("probe", cwd=tmp_path)
    assert result.returncode == 1
    assert "network blocked by the test" in result.stderr


def test_a_good_bundle_verifies_offline_and_prints_each_check(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.json", build_bundle())
    result = run_offline("tools.verify", str(bundle), *AT)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in CHECKS:
        assert any(line.split()[:2] == ["PASS", name] for line in lines), name
    assert "credential urn:uuid:" in result.stdout
    assert lines[-1] == f"VERIFIED: all {len(CHECKS)} checks passed, offline"


def test_a_relative_path_is_the_callers_not_the_repositorys(tmp_path: Path) -> None:
    write(tmp_path / "bundle.json", build_bundle())
    result = run_offline("tools.verify", "bundle.json", "--cwd", str(tmp_path), *AT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_edited_report_exits_1_naming_the_evidence(tmp_path: Path) -> None:
    document = build_bundle()
    document["report"]["factory_id"] = "f-2"
    result = run_offline("tools.verify", str(write(tmp_path / "b.json", document)), *AT)
    assert result.returncode == 1
    assert any(line.split()[:2] == ["FAIL", "evidence"] for line in result.stdout.splitlines())
    assert result.stdout.splitlines()[-1] == "NOT VERIFIED: 1 of 11 checks failed: evidence"


def test_json_output(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.json", build_bundle())
    result = run_offline("tools.verify", str(bundle), "--json", *AT)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is True
    assert [check["name"] for check in answer["checks"]] == list(CHECKS)
    assert answer["credential"]["id"].startswith("urn:uuid:")


def test_a_newer_status_list_from_a_file_says_superseded(tmp_path: Path) -> None:
    issuer = Issuer()
    bundle = write(tmp_path / "bundle.json", build_bundle(issuer))
    newer = tmp_path / "status.jwt"
    newer.write_text(issuer.sign(status_list_payload(set_bits=[42])) + "\n")
    result = run_offline("tools.verify", str(bundle), "--status-list", str(newer), *AT)
    assert result.returncode == 1
    assert "is 0x1: superseded" in result.stdout


def test_a_trusted_did_document_without_the_key_fails_the_issuer(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.json", build_bundle())
    trusted = write(tmp_path / "did.json", did_document(Issuer()))
    result = run_offline("tools.verify", str(bundle), "--did-document", str(trusted), *AT)
    assert result.returncode == 1
    assert "differs from the trusted DID document's key" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the bundle"), ("{not json", "is not JSON"), ("\xff", "is not JSON")],
)
def test_a_file_that_is_no_json_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_text(content, encoding="latin-1")
    result = run_offline("tools.verify", str(path))
    assert result.returncode == 2
    assert message in result.stderr or "cannot read" in result.stderr


def test_json_that_is_no_bundle_exits_1(tmp_path: Path) -> None:
    result = run_offline("tools.verify", str(write(tmp_path / "b.json", [1, 2])), *AT)
    assert result.returncode == 1
    assert "FAIL  format" in result.stdout
