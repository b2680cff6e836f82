"""The UI blueprint and what every page shares: login, CSRF, scope, template helpers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import Engine as SqlEngine

from engine.bootstrap import Service
from engine.domain.codes import StatusCode
from engine.store.users import UiUser
from web.ui import csrf
from web.ui.i18n import LANGS, current_lang, translate
from web.ui.timefmt import fmt_seconds, fmt_time, viewer_zone

bp = Blueprint(
    "ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static"
)

PUBLIC_ENDPOINTS = frozenset({"ui.login", "ui.static", "ui.set_lang"})


def engine() -> Service:
    return current_app.extensions["callbridge.engine"]


def db() -> SqlEngine:
    return engine().db


def viewer() -> UiUser:
    """The signed-in user (pages are behind the login check below)."""
    return current_user.user


def scope() -> int | None:
    return viewer().scope


def require_operator() -> None:
    if not viewer().is_operator:
        abort(404)


@bp.before_request
def _guard() -> Any:
    if request.method == "POST":
        csrf.protect()  # raises CSRFError (400) without a valid token
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        from web.ui.auth import login_manager

        return login_manager.unauthorized()
    return None


@bp.after_request
def _headers(response: Any) -> Any:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'",
    )
    return response


@bp.app_template_global()
def t(text: str, **values: object) -> str:
    return translate(text, **values)


@bp.app_template_filter("when")
def _when(ts: float | None) -> str:
    return fmt_time(ts)


@bp.app_template_filter("secs")
def _secs(value: float | None) -> str:
    return fmt_seconds(value)


@bp.app_template_filter("code_name")
def _code_name(code: int | None) -> str:
    if code is None:
        return ""
    try:
        return StatusCode(code).name
    except ValueError:
        return str(code)


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    user = current_user.user if current_user and current_user.is_authenticated else None
    return {
        "viewer": user,
        "lang": current_lang(),
        "langs": LANGS,
        "zone": viewer_zone().key,
        "codes": list(StatusCode),
    }


@bp.errorhandler(404)
def _not_found(_exc: Exception) -> Any:
    return render_template(
        "error.html",
        title=translate("Not found"),
        message=translate("The page or call does not exist, or you may not see it."),
    ), 404


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> Any:
    return render_template(
        "error.html",
        title=translate("Bad request"),
        message=translate("The form expired or was not sent by this site; reload and try again."),
    ), 400


@bp.app_template_filter("combine_args")
def _combine_args(args: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The filter's query parameters with some replaced (for the per-code count links)."""
    return {**args, **{k: v for k, v in changes.items()}}
