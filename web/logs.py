"""Logging of the ``callbridge`` processes: text or JSON lines on stderr, levels per component."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = {"httpx": "warning", "apscheduler": "warning", "transitions": "warning"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601, ms), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str, fmt: str = "text", levels: dict[str, str] | None = None) -> None:
    """Configure the root logger: ``level`` overall, ``levels`` per logger name."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name, value in {**QUIET, **(levels or {})}.items():
        logging.getLogger(name).setLevel(getattr(logging, value.upper(), logging.INFO))
