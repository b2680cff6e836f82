"""Signing in and out; failed sign-ins are limited per username and address."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.config import UiSettings
from engine.store import users
from engine.store.users import UiUser
from web.ui.blueprint import bp, db
from web.ui.i18n import LANGS, translate

login_manager = LoginManager()
login_manager.login_view = "ui.login"
login_manager.login_message = ""
login_manager.session_protection = "basic"


class SessionUser(UserMixin):
    """What Flask-Login keeps per request; reloaded from the database every time, so a
    disabled user is out on the next page."""

    def __init__(self, user: UiUser) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)


@login_manager.user_loader
def _load(user_id: str) -> SessionUser | None:
    try:
        found = users.get_user(db(), int(user_id))
    except ValueError:
        return None
    if found is None or found.disabled:
        return None
    return SessionUser(found)


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def _settings() -> UiSettings:
    return current_app.extensions["callbridge.ui_settings"]


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("ui.calls")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = ""
    status = 200
    if form.validate_on_submit():
        cfg = _settings()
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
    return redirect(url_for("ui.login"))


@bp.post("/lang")
def set_lang() -> Any:
    lang = request.form.get("lang", "en")
    session["lang"] = lang if lang in LANGS else "en"
    flash_back = request.form.get("back") or ""
    return redirect(_safe_next(flash_back) if flash_back else url_for("ui.calls"))
