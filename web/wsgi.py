"""WSGI entry point for the scaled mode: the Voice API only, no engine workers.

    gunicorn -w 4 -k gthread 'web.wsgi:app'     # or: waitress-serve web.wsgi:app

Registered calls are picked up by ``callbridge worker`` processes sharing the database.
The schema must already be migrated (``callbridge db upgrade``).
"""

from __future__ import annotations

import logging

from engine.config import load_settings
from engine.runtime import Engine
from web.app import create_app

# waitress warns "Task queue depth is N" on every request that waits for a thread, i.e.
# on every request of a busy server: noise in the log and ~7% of a loaded process's CPU.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

engine = Engine(load_settings())
app = create_app(engine)
