"""Operators manage who may sign in: list, create, disable and enable UI users."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from engine import errors
from engine.errors import AccountNotFound
from engine.store import users
from engine.store.database import reading
from web.ui.common import ui_blueprint
from web.ui.context import db, require_operator, viewer
from web.ui.queries import account_choices

bp = ui_blueprint("users", __name__)


class UserForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(min=8, max=256)])
    operator = BooleanField()
    account = SelectField(choices=[], validate_choice=False)


@bp.route("/users", methods=["GET", "POST"])
def index() -> Any:
    require_operator()
    form = UserForm()
    with reading(db()) as conn:
        form.account.choices = [("", "—")] + [(u, u) for _, u in account_choices(conn, None)]
    if form.validate_on_submit():
        try:
            users.create_user(
                db(),
                form.username.data or "",
                form.password.data or "",
                operator=bool(form.operator.data),
                account_username=None if form.operator.data else (form.account.data or None),
            )
            flash("User created.", "ok")
            return redirect(url_for("users.index"))
        except (ValueError, AccountNotFound) as exc:
            flash(str(exc), "error")
    elif request.method == "POST":
        flash("; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()), "error")
    return render_template("users.html", users=users.list_users(db()), form=form)


@bp.post("/users/<username>/disabled")
def set_disabled(username: str) -> Any:
    require_operator()
    disable = request.form.get("disabled") == "1"
    if disable and username == viewer().username:
        flash("You cannot disable yourself.", "error")
    else:
        try:
            users.set_disabled(db(), username, disable)
        except errors.UserNotFound:
            flash(f"user {username!r} does not exist", "error")
    return redirect(url_for("users.index"))
