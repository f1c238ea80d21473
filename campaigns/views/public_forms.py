"""Public lead capture endpoints under /f: the hosted form, its POST (HTML or JSON), the thank-you pages,
and the double opt-in confirmation (GET shows a button, POST confirms).

No login and no CSRF token: forms are embedded on other sites and post cross-origin. Protection is the
honeypot field, the per-address rate limit, strict validation of the form's own fields only, and a
redirect only ever to the URL the marketer stored. The form pages may be framed (the iframe embed);
the confirmation pages may not.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from campaigns import queueing
from campaigns.engagement.web_collect import record_identification
from campaigns.i18n import _
from campaigns.leads import forms
from campaigns.models import Form, FormStatus, SubmissionStatus
from campaigns.runtime import services

bp = Blueprint("public_forms", __name__, url_prefix="/f")

FORM_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors *; form-action 'self'{extra}; base-uri 'none'; object-src 'none'"
)
BODY_LIMIT = 64 * 1024
VISITOR_FIELD = "_nurture_vid"  # added by the website snippet (campaigns/engagement/snippet.js)  # a form post is a few hundred bytes; the app-wide limit is for CSV uploads


@bp.before_request
def _limit_body() -> None:
    request.max_content_length = BODY_LIMIT


def _form_or_404(slug: str) -> Form:
    form = services().db.session.scalar(select(Form).where(Form.slug == slug))
    if form is None:
        abort(404)
    return form


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def _frameable(response: Response, form: Form | None) -> Response:
    """Let customers' pages frame this response (the iframe embed); the app default is SAMEORIGIN."""
    extra = ""
    if form is not None and form.redirect_url:
        # Chromium applies form-action to the redirect after a POST: allow the stored target's origin.
        extra = " " + _origin(form.redirect_url)
    response.headers["Content-Security-Policy"] = FORM_CSP.format(extra=extra)
    g.frameable = True
    return response


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _cors(response: Response) -> Response:
    # fetch() from the customer's site: no cookies are used, so any origin may read the answer.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Vary"] = "Origin"
    return response


def _json_error(status: int, error: str, message: str, details: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if details:
        body["details"] = details
    resp = jsonify(body)
    resp.status_code = status
    return _cors(resp)


def _render_form(form: Form, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 consent: bool = False, status: int = 200, notice: str = "") -> Response:
    embed = request.args.get("embed") == "1"
    html = render_template(
        "public/form.html", form=form, values=values or {}, errors=errors or {}, consent=consent,
        honeypot=forms.HONEYPOT_FIELD, kind=forms.field_kind, embed=embed, notice=notice,
        action=url_for("public_forms.submit", slug=form.slug, embed="1" if embed else None, nv=_visitor_key() or None),
    )
    return _frameable(current_app.response_class(html, status=status, mimetype="text/html"), form)


def _visitor_key(data: dict[str, Any] | None = None) -> str:
    """The website visitor id the tracking snippet passed: a hidden field of a form on the site, or `nv` in
    the address of the hosted form in an iframe (kept in its action). '' when none or malformed."""
    key = (data or {}).get(VISITOR_FIELD) or request.args.get("nv") or ""
    return key if isinstance(key, str) and len(key) == 32 and all(c in "0123456789abcdef" for c in key) else ""


def _closed(form: Form) -> Response:
    if _wants_json():
        return _json_error(404, "form_closed", "this form no longer takes submissions")
    html = render_template("public/form_done.html", form=form, state="closed", embed=request.args.get("embed") == "1")
    return _frameable(current_app.response_class(html, status=404, mimetype="text/html"), form)


@bp.get("/<slug>", provide_automatic_options=False)  # OPTIONS is the CORS preflight below
def show(slug: str) -> Response:
    """The hosted form (also the iframe embed with ?embed=1)."""
    form = _form_or_404(slug)
    if form.status != FormStatus.ACTIVE:
        return _closed(form)
    return _render_form(form)


@bp.route("/<slug>", methods=["OPTIONS"])
def preflight(slug: str) -> Response:
    """CORS preflight of a fetch() with a JSON body from the customer's site."""
    resp = Response(status=204)
    resp.headers["Access-Control-Allow-Methods"] = "POST"
    resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept"
    resp.headers["Access-Control-Max-Age"] = "86400"
    return _cors(resp)


def _submitted_data() -> dict[str, Any] | None:
    """The posted fields as a dict (form-encoded or JSON), or None when a JSON body is unreadable."""
    if request.is_json:
        try:
            data = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None
    return {key: request.form.get(key, "") for key in request.form}


@bp.post("/<slug>", provide_automatic_options=False)
def submit(slug: str) -> Any:
    """Take a submission: 303 to the thank-you page (or the stored redirect), the form again with errors,
    or JSON answers for fetch() callers."""
    svc = services()
    session = svc.db.session
    form = _form_or_404(slug)
    wants_json = _wants_json()
    if form.status != FormStatus.ACTIVE:
        return _closed(form)
    data = _submitted_data()
    if data is None:
        return _json_error(400, "invalid_json", "send a JSON object of field values")
    if not forms.check_rate(svc, request.remote_addr or ""):
        message = _("Too many submissions from your network. Please try again in a few minutes.")
        if wants_json:
            resp = _json_error(429, "rate_limited", message)
        else:
            values, _errors = forms.validate_submission(form, data)
            resp = _render_form(form, values, {}, forms.is_checked(data.get(forms.CONSENT_FIELD)), 429, message)
        resp.headers["Retry-After"] = str(svc.settings.form_rate_window)
        return resp
    try:
        result = forms.submit_form(
            svc, session, form, data, ip=request.remote_addr or "", user_agent=request.headers.get("User-Agent", ""),
            referrer=request.headers.get("Referer", ""),
        )
    except forms.FormClosed:
        session.rollback()
        return _closed(form)
    if result.status == "invalid":
        session.rollback()
        errors = {key: _(message) for key, message in result.errors.items()}
        if wants_json:
            return _json_error(422, "validation_failed", _("Please correct the marked fields."), errors)
        consent = forms.is_checked(data.get(forms.CONSENT_FIELD))
        return _render_form(form, result.values, errors, consent, 400)
    session.commit()
    if result.status == "pending":
        queueing.enqueue_confirmation(svc.queue, result.submission_id or 0)
    elif result.status == "confirmed" and result.contact_id and _visitor_key(data):
        # The site's visitor is this contact: its visits (and its anonymous history) become the lead's. Not
        # for a pending double opt-in: anyone can type anyone's address until the owner confirms.
        record_identification(svc, _visitor_key(data), result.contact_id)
    state = "pending" if result.status == "pending" else "thanks"
    if wants_json:
        return _cors(jsonify(
            status="pending" if state == "pending" else "ok",
            message=_thanks_message(form, state),
            redirect_url=form.redirect_url or None,
        ))
    if form.redirect_url and state == "thanks":
        return redirect(form.redirect_url, 303)  # the stored URL only: nothing from the request
    return redirect(url_for("public_forms.done", slug=form.slug, state=state,
                            embed="1" if request.args.get("embed") == "1" else None), 303)


def _thanks_message(form: Form, state: str) -> str:
    if state == "pending":
        return _("Almost done: we sent you an email. Please click the link in it to confirm your address.")
    return form.thank_you_message or _("Thank you. We have received your submission.")


@bp.get("/<slug>/<any(thanks, pending):state>")
def done(slug: str, state: str) -> Response:
    """The thank-you page (or "check your inbox" for double opt-in) after a successful submission."""
    form = _form_or_404(slug)
    html = render_template("public/form_done.html", form=form, state=state, message=_thanks_message(form, state),
                           embed=request.args.get("embed") == "1")
    return _frameable(current_app.response_class(html, mimetype="text/html"), form)


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Any:
    """The link in the confirmation mail: a page with a button; GET changes nothing (scanners prefetch)."""
    svc = services()
    submission = forms.submission_for_token(svc, svc.db.session, token)
    if submission is None or submission.status == SubmissionStatus.SPAM:
        return render_template("public/invalid.html"), 404
    form = svc.db.session.get(Form, submission.form_id)
    if submission.status == SubmissionStatus.CONFIRMED:
        return render_template("public/form_done.html", form=form, state="confirmed",
                               message=_("Your address is already confirmed. Thank you."), embed=False)
    return render_template("public/form_confirm.html", form=form, token=token, email=submission.email)


@bp.post("/confirm/<token>")
def confirm(token: str) -> Any:
    """Confirm the subscription: the consent is recorded and the form's event and sequences start."""
    svc = services()
    session = svc.db.session
    submission = forms.submission_for_token(svc, session, token)
    if submission is None or submission.status == SubmissionStatus.SPAM:
        return render_template("public/invalid.html"), 404
    form = session.get(Form, submission.form_id)
    confirmed = forms.confirm_submission(session, submission)
    session.commit()
    message = (form.thank_you_message if form and form.thank_you_message else _("Thank you. Your address is confirmed.")) \
        if confirmed else _("Your address is already confirmed. Thank you.")
    return render_template("public/form_done.html", form=form, state="confirmed", message=message, embed=False)
