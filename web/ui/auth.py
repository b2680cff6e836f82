"""Signing in and out, and the language switch; failed sign-ins are limited per username
and address."""

from __future__ import annotations

import time
from typing import Any

from flask import redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.store import users
from web.ui.common import public, ui_blueprint
from web.ui.context import db, ui_settings
from web.ui.i18n import LANGS, translate
from web.ui.identity import SessionUser

bp = ui_blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("calls.index")


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
        now = time.time()
        if users.recent_failures(db(), key, cfg.login_window, now) >= cfg.login_attempts:
            error, status = translate("Too many failed sign-ins; try again later."), 429
        else:
            found = users.authenticate(db(), username, form.password.data or "")
            if found is None:
                users.record_failure(db(), key, cfg.login_window, now)
                error, status = translate("Invalid username or password."), 401
            else:
                users.clear_failures(db(), key)
                lang = session.get("lang")
                session.clear()  # a fresh session on sign-in
                if lang:
                    session["lang"] = lang
                login_user(SessionUser(found))
                return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        error, status = translate("Invalid username or password."), 400
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.post("/lang")
@public
def set_lang() -> Any:
    lang = request.form.get("lang", "en")
    session["lang"] = lang if lang in LANGS else "en"
    back = request.form.get("back") or ""
    return redirect(_safe_next(back) if back else url_for("calls.index"))
