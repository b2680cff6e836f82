"""The key that signs UI sessions: ``ui.secret_key``, or one generated once per data dir.

Every process serving the UI must use the same key or sessions break between them. On one
machine the file does that (created atomically, so two processes starting together end up
with the same key); on several machines set ``ui.secret_key`` (CALLBRIDGE_UI__SECRET_KEY).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from engine.config import Settings


def secret_key(settings: Settings) -> str:
    if settings.ui.secret_key:
        return settings.ui.secret_key
    return _file_key(Path(settings.data_dir) / "secret_key")


def _file_key(path: Path) -> str:
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(tmp, path)  # atomic, and fails if another process won the race
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path.read_text().strip()
