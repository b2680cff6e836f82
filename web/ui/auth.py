"""Signing in and out, and the language switch; failed sign-ins are limited per username
and address."""

from __future__ import annotations

import time
from typing import Any

from flask import redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.store import users
from web.ui.common import public, ui_blueprint
from web.ui.context import db, ui_settings, viewer
from web.ui.i18n import LANGS, translate
from web.ui.identity import end_session, start_session
from web.ui.redirects import local_path

bp = ui_blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def _back_to(target: str | None) -> str:
    """``target`` when it is a path on this site, else the calls list."""
    return local_path(target) or url_for("calls.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    form = LoginForm()
    error = ""
    status = 200
    if form.validate_on_submit():
        cfg = ui_settings()
        username = form.username.data or ""
        key = f"{username.lower()}|{request.remote_addr or '-'}"
        if not users.take_login_attempt(
            db(), key, cfg.login_attempts, cfg.login_window, time.time()
        ):
            error, status = translate("Too many failed sign-ins; try again later."), 429
        else:
            found = users.authenticate(db(), username, form.password.data or "")
            if found is None:
                error, status = translate("Invalid username or password."), 401
            else:
                users.clear_login_attempts(db(), key)
                start_session(found)
                return redirect(_back_to(request.args.get("next")))
    elif request.method == "POST":
        error, status = translate("Invalid username or password."), 400
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    end_session(viewer())
    return redirect(url_for("auth.login"))


@bp.post("/lang")
@public
def set_lang() -> Any:
    lang = request.form.get("lang", "en")
    session["lang"] = lang if lang in LANGS else "en"
    return redirect(_back_to(request.form.get("back")))
