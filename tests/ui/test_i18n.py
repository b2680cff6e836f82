"""Every English text the templates and views translate has a Turkish entry."""

from __future__ import annotations

import re
from pathlib import Path

from web.ui.i18n import TR

UI = Path(__file__).resolve().parents[2] / "web" / "ui"
CALL = re.compile(r"""\b(?:t|translate|N_)\(\s*(?:"([^"]+)"|'([^']+)')""")
FLASH = re.compile(r"""flash\(\s*"([^"{]+)",""")


def test_every_text_has_turkish() -> None:
    texts = set()
    for path in [*UI.glob("templates/*.html"), *UI.glob("*.py")]:
        source = path.read_text()
        texts |= {a or b for a, b in CALL.findall(source)} | set(FLASH.findall(source))
    assert len(texts) > 50
    missing = sorted(t for t in texts if t not in TR)
    assert missing == []
