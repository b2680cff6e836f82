"""WSGI entry point for the scaled mode: the Voice API only, no service workers.

    gunicorn -w 4 -k gthread 'web.wsgi:app'
    python -m web.http_server web.wsgi:app --port 8080   # the server of `serve`

Registered calls are picked up by ``callbridge worker`` processes sharing the database.
The schema must already be migrated (``callbridge db upgrade``).
"""

from __future__ import annotations

from engine.bootstrap import Service
from engine.config import load_settings
from web.app import create_app

service = Service(load_settings())
app = create_app(service)
