"""What every UI blueprint shares: the login and CSRF checks, security headers, error
pages, and the helpers templates use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from engine.domain.codes import StatusCode
from web.ui.i18n import LANGS, current_lang, fmt_number, translate
from web.ui.identity import login_manager
from web.ui.legs import who_ended
from web.ui.outcome import cause_name, code_label
from web.ui.stored_text import stored_text, term
from web.ui.timefmt import fmt_local_time, fmt_seconds, viewer_zone

csrf = CSRFProtect()

# Static files and templates of the UI (no views of its own).
shell = Blueprint(
    "ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static"
)

View = TypeVar("View", bound=Callable[..., Any])


def public(view: View) -> View:
    """Mark a view that answers without signing in (the sign-in page itself)."""
    view.ui_public = True  # type: ignore[attr-defined]
    return view


def ui_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of UI pages: signed-in users only (unless ``@public``), CSRF-checked
    POSTs, security headers, HTML error pages."""
    bp = Blueprint(name, import_name)
    bp.before_request(_guard)
    bp.after_request(_headers)
    bp.register_error_handler(404, _not_found)
    bp.register_error_handler(CSRFError, _csrf_failed)
    return bp


def _guard() -> Any:
    if request.method == "POST":
        csrf.protect()  # raises CSRFError (400) without a valid token
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "ui_public", False) and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _headers(response: Any) -> Any:
    # Pages show who called whom: no copy in the browser's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'",
    )
    return response


def _not_found(_exc: Exception) -> Any:
    return render_template(
        "error.html",
        title=translate("Not found"),
        message=translate("The page or call does not exist, or you may not see it."),
    ), 404


def _csrf_failed(_exc: CSRFError) -> Any:
    return render_template(
        "error.html",
        title=translate("Bad request"),
        message=translate("The form expired or was not sent by this site; reload and try again."),
    ), 400


def install_template_helpers(app: Flask) -> None:
    """The globals and filters the UI's templates use."""
    app.add_template_global(translate, "t")
    app.add_template_filter(fmt_local_time, "when")
    app.add_template_filter(stored_text, "reason")
    app.add_template_filter(term, "term")
    app.add_template_filter(fmt_seconds, "secs")
    app.add_template_filter(code_name, "code_name")
    app.add_template_filter(code_label, "code_label")
    app.add_template_filter(cause_name, "cause_name")
    app.add_template_filter(fmt_number, "num")
    app.add_template_filter(who_ended, "who_ended")
    app.add_template_filter(combine_args, "combine_args")
    app.context_processor(_globals)


def code_name(code: int | None) -> str:
    if code is None:
        return ""
    try:
        return StatusCode(code).name
    except ValueError:
        return str(code)


def combine_args(args: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The filter's query parameters with some replaced (for the per-code count links)."""
    return {**args, **changes}


def _globals() -> dict[str, Any]:
    user = current_user.user if current_user and current_user.is_authenticated else None
    return {
        "viewer": user,
        "lang": current_lang(),
        "langs": LANGS,
        "zone": viewer_zone().key,
        "codes": list(StatusCode),
    }
