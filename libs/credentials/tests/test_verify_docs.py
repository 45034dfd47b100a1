"""docs/verifying.md's Node.js example is the script kept in tools/verify/node, and that script,
with the `jose` library, verifies a bundle and refuses an edited one (run where Node.js and its
`npm install` are there; the copy check always runs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from libs.credentials.tests.test_verify_bundle import build_bundle
from libs.credentials.verify import CHECKS

ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "tools" / "verify" / "node"
SCRIPT = NODE_DIR / "verify-bundle.mjs"


def test_the_page_shows_the_script_as_kept() -> None:
    page = (ROOT / "docs" / "verifying.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```js\n(.*?)```", page, flags=re.DOTALL)
    assert blocks == [SCRIPT.read_text(encoding="utf-8")]


def test_the_page_names_every_check() -> None:
    page = (ROOT / "docs" / "verifying.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in page for name in CHECKS)


needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "jose").is_dir(),
    reason="Node.js and `npm install` in tools/verify/node are needed",
)


@needs_node
def test_node_jose_verifies_a_bundle_and_refuses_an_edited_report(tmp_path: Path) -> None:
    good, edited = build_bundle(), build_bundle()
    edited["report"]["factory_id"] = "f-2"
    results = []
    for name, bundle in (("good.json", good), ("edited.json", edited)):
        (tmp_path / name).write_text(json.dumps(bundle), encoding="utf-8")
        results.append(
            subprocess.run(
                ["node", str(SCRIPT), str(tmp_path / name)],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=60,
            )
        )
    verified, refused = results
    assert verified.returncode == 0, verified.stderr
    assert "0: valid" in verified.stdout
    assert refused.returncode == 1
    assert "report hash" in refused.stderr
