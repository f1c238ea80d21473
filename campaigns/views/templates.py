"""Email templates: list, editor with live preview, version history, link tracking choices, test send, and
archive, restore, duplicate and delete (campaigns.delivery.template_archive); the block editor (block mails
without HTML, campaigns.delivery.block_mails; its page data in campaigns.views.mail_blocks), its preview
and conversion to HTML, and the image library (campaigns.delivery.assets)."""

from __future__ import annotations

import smtplib
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from campaigns.addresses import normalize_email
from campaigns.archive import live
from campaigns.delivery import assets as mail_assets
from campaigns.delivery import block_mails
from campaigns.delivery.blocks import BlockError, validate_document
from campaigns.delivery.blocks_mjml import block_sources, dark_preview
from campaigns.delivery.rendering import TemplateError, compile_version, create_template, render_preview
from campaigns.delivery.system_mail import send_test_email
from campaigns.delivery.template_archive import (
    archive_template,
    delete_template,
    duplicate_template,
    restore_template,
    template_usages,
)
from campaigns.i18n import _
from campaigns.models import Contact, Template, TemplateVersion
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.text import storable
from campaigns.views import mail_blocks
from campaigns.views.archive_pages import change_page, delete_page
from campaigns.views.builder_common import account_zone, install_filters
from campaigns.views.text_input import CheckedForm, checks_own_text

bp = Blueprint("templates", __name__, url_prefix="/templates")
install_filters(bp)

@bp.app_template_global()
def archive_zone_name() -> str:
    """The account's time zone name, the label of the times the archive pieces show (templates/ui/_archive.html)."""
    return str(account_zone())


MAX_SOURCE = 500_000  # characters; a mail larger than this would be clipped by every client anyway


class TemplateForm(CheckedForm):
    """The editor's fields; CheckedForm applies the text rule to each (the service's save path does not)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=998)])
    preheader = StringField("Preheader", validators=[Length(max=500)])
    from_name = StringField("Sender name", validators=[Length(max=200)])
    html_source = TextAreaField("HTML source", validators=[DataRequired(), Length(max=MAX_SOURCE)])
    text_source = TextAreaField("Text source (optional)", validators=[Length(max=MAX_SOURCE)])


TEMPLATE_FIELDS = ("name", "subject", "preheader", "from_name", "html_source", "text_source")


def _starter_html() -> str:
    # A fragment, so the mail gets the shipped layout (templates/email/layout.html: width, fonts, the
    # "button" style, fixes for mail clients), which keeps short mails clear of spam filters' rules.
    return (
        '<p>Hello {{ contact.first_name | default("there") }},</p>\n'
        "<p>...</p>\n"
        '<p><a class="button" href="https://example.com/">Read more</a></p>\n'
    )


def _template_or_404(s: Session, template_id: int) -> Template:
    template = s.get(Template, template_id)
    if template is None:
        abort(404)
    return template


def _version_or_404(s: Session, template: Template, version_id: int) -> TemplateVersion:
    version = s.get(TemplateVersion, version_id)
    if version is None or version.template_id != template.id:
        abort(404)
    return version


def find_contact(s: Session, needle: str) -> Contact | None:
    """A contact by id or e-mail address for "preview as" and test sends (template editor)."""
    needle = needle.strip()
    if not needle:
        return None
    if needle.isdigit():  # an id; digits past any id (or not ASCII) find nobody
        contact_id = parse_id(needle)
        return s.get(Contact, contact_id) if contact_id is not None else None
    local, at, domain = needle.rpartition("@")
    normalised = f"{local}@{domain.lower()}" if at else needle
    return s.scalar(select(Contact).where(Contact.email.in_({needle, normalised})).limit(1))


def _untracked_urls() -> list[str]:
    """URLs of the listed links whose "track" box is unchecked (the editor's links table)."""
    tracked = set(request.form.getlist("track"))
    return [url for url in request.form.getlist("link_url") if url not in tracked]


def _version_fields(form: TemplateForm) -> dict[str, Any]:
    return {
        "subject": form.subject.data or "",
        "html_source": form.html_source.data or "",
        "text_source": form.text_source.data or "",
        "preheader": form.preheader.data or "",
        "from_name": form.from_name.data or "",
    }


def _versions(s: Session, template: Template) -> list[TemplateVersion]:
    return list(
        s.scalars(
            select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.version.desc())
            .limit(100)
        )
    )


@bp.get("/")
def index() -> Any:
    """The marketer's templates, newest first; ?archived=1 lists the archived ones (with Restore)."""
    s = services().db.session
    archived = request.args.get("archived") == "1"
    counts = dict(
        s.execute(select(TemplateVersion.template_id, func.count()).group_by(TemplateVersion.template_id)).all()
    )
    own = Template.ab_test_id.is_(None)  # not A/B tests' copies
    shown = Template.archived_at.is_not(None) if archived else live(Template)
    templates = list(s.scalars(select(Template).where(own, shown)
                               .order_by(Template.updated_at.desc(), Template.id.desc())))
    archived_count = s.scalar(select(func.count()).where(own, Template.archived_at.is_not(None))) or 0
    return render_template("ui/templates/index.html", templates=templates, counts=counts, archived=archived,
                           archived_count=archived_count)


# ------------------------------------------------------------------ archive, restore, duplicate, delete
@bp.post("/<int:template_id>/archive")
def archive(template_id: int) -> Any:
    s = services().db.session
    return change_page(
        s, _template_or_404(s, template_id), archive_template,
        _("Template archived: it no longer appears in lists and pickers; its history and reports are kept."),
        url_for("templates.edit", template_id=template_id))


@bp.post("/<int:template_id>/restore")
def restore(template_id: int) -> Any:
    s = services().db.session
    return change_page(s, _template_or_404(s, template_id), restore_template, _("Template restored."),
                       url_for("templates.edit", template_id=template_id))


@bp.post("/<int:template_id>/duplicate")
def duplicate(template_id: int) -> Any:
    s = services().db.session
    copy = duplicate_template(s, _template_or_404(s, template_id), _("%(name)s (copy)"))
    s.commit()
    flash(_("Copy created: %(name)s", name=copy.name), "success")
    return redirect(url_for("templates.edit", template_id=copy.id))


@bp.route("/<int:template_id>/delete", methods=["GET", "POST"])
def delete(template_id: int) -> Any:
    """GET: the confirmation, or what uses the template and Archive instead; POST: delete it."""
    s = services().db.session
    return delete_page(
        s, _template_or_404(s, template_id), what=_("template"), delete=delete_template, usages=template_usages,
        done=_("Template deleted."), done_url=url_for("templates.index"),
        archive_url=url_for("templates.archive", template_id=template_id),
        back_url=url_for("templates.edit", template_id=template_id),
    )


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text(*TEMPLATE_FIELDS)
def new() -> Any:
    db = services().db
    form = TemplateForm()
    if request.method == "GET":
        form.html_source.data = _starter_html()
    error = ""
    if form.validate_on_submit():
        try:
            template = create_template(db.session, (form.name.data or "").strip(), **_version_fields(form))
        except TemplateError as exc:
            db.session.rollback()
            error = _(str(exc))
        else:
            db.session.commit()
            flash(_("Template saved."), "success")
            return redirect(url_for("templates.edit", template_id=template.id))
    status = 400 if request.method == "POST" else 200
    return render_template("ui/templates/edit.html", form=form, template=None, version=None, versions=[],
                           error=error, links=[]), status


@bp.route("/<int:template_id>", methods=["GET", "POST"])
@checks_own_text(*TEMPLATE_FIELDS)
def edit(template_id: int) -> Any:
    db = services().db
    s = db.session
    template = _template_or_404(s, template_id)
    current = template.current_version
    shown = current
    wanted = _int_arg("version")
    if request.method == "GET" and wanted:
        # Load an older version into the editor; saving it makes a new version (history is immutable).
        shown = _version_or_404(s, template, wanted)
    if request.method == "GET" and shown is not None and shown.editor == "blocks":
        args: dict[str, Any] = {"template_id": template.id, "version": wanted} if wanted else {"template_id": template.id}
        return redirect(url_for("templates.blocks_edit", **args))
    form = TemplateForm(obj=shown) if request.method == "GET" else TemplateForm()
    if request.method == "GET":
        form.name.data = template.name
    error = ""
    if form.validate_on_submit():
        try:
            template.name = (form.name.data or "").strip()
            compile_version(s, template, **_version_fields(form), untracked_urls=_untracked_urls())
        except TemplateError as exc:
            s.rollback()
            error = _(str(exc))
        else:
            s.commit()
            flash(_("Template saved."), "success")
            return redirect(url_for("templates.edit", template_id=template.id))
    links = list(shown.links) if shown is not None else []
    status = 400 if request.method == "POST" else 200
    return render_template(
        "ui/templates/edit.html",
        form=form,
        template=template,
        version=shown,
        current=current,
        versions=_versions(s, template),
        links=links,
        error=error,
        test_to=request.args.get("to", ""),
    ), status


@bp.post("/preview")
@checks_own_text(*TEMPLATE_FIELDS)
def preview() -> Any:
    """Render the unsaved draft for the live preview; nothing is stored (the transaction is rolled back)."""
    svc = services()
    s = svc.db.session
    form = TemplateForm()
    form.validate()
    # The name does not show in the preview: a new template without one can still be previewed.
    problems = {name: errors[0] for name, errors in form.errors.items() if name != "name"}
    if problems:
        return jsonify(ok=False, error=" ".join(_(msg) for msg in problems.values()), fields=problems), 400
    template_id = request.form.get("template_id", type=int)
    needle = request.form.get("preview_contact", "").strip()
    try:
        contact = find_contact(s, needle)
        fields = _version_fields(form)
        if template_id:
            template = _template_or_404(s, template_id)
            version = compile_version(s, template, **fields, untracked_urls=_untracked_urls())
        else:
            # the name is not shown and not kept (rolled back), so a bad one is no reason to refuse the preview
            template = create_template(s, storable(form.name.data or "", multiline=False).strip() or "draft", **fields)
            version = template.current_version  # type: ignore[assignment]
        assert version is not None
        rendered = render_preview(s, version, contact, svc)
        contact_email = contact.email if contact else ""
    except TemplateError as exc:
        return jsonify(ok=False, error=_(str(exc))), 400
    finally:
        s.rollback()
    return jsonify(
        ok=True,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        contact=contact_email,
        notice=_("No contact matches %(needle)s: showing sample data.", needle=needle) if needle and not contact_email else "",
    )


# A preview calls nothing outside: no remote images or fonts (a marketer's look would reach the image host,
# and another sender's pixel in pasted HTML would count it as an open), no scripts, forms or plugins. The
# live preview's srcdoc frame inherits the editor page's policy, which allows the same images.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox"
)


@bp.get("/<int:template_id>/versions/<int:version_id>/preview")
def version_preview(template_id: int, version_id: int) -> Any:
    """A saved version rendered for a contact (or sample data), served alone under a strict CSP."""
    svc = services()
    s = svc.db.session
    version = _version_or_404(s, _template_or_404(s, template_id), version_id)
    contact = find_contact(s, request.args.get("contact", ""))
    try:
        rendered = render_preview(s, version, contact, svc)
    except TemplateError as exc:
        return Response(_(str(exc)), status=400, mimetype="text/plain")
    finally:
        s.rollback()
    if request.args.get("part") == "text":
        response = current_app.response_class(rendered.text, mimetype="text/plain")
    else:  # the app's response class: contact data stored before the text rule cannot fail the preview
        response = current_app.response_class(rendered.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:template_id>/test")
def test_send(template_id: int) -> Any:
    svc = services()
    s = svc.db.session
    template = _template_or_404(s, template_id)
    back = url_for("templates.edit", template_id=template.id)
    raw_to = request.form.get("to", "").strip()
    to_address = normalize_email(raw_to)
    if to_address is None:
        flash(_("Enter a valid e-mail address for the test send."), "error")
        return redirect(back)
    version_id = request.form.get("version_id", type=int) or template.current_version_id
    if version_id is None:
        flash(_("Save the template before sending a test."), "error")
        return redirect(back)
    _version_or_404(s, template, version_id)
    needle = request.form.get("contact", "").strip()
    contact = find_contact(s, needle)
    if needle and contact is None:
        flash(_("No contact matches %(needle)s.", needle=needle), "error")
        return redirect(back)
    contact_id = contact.id if contact else None
    s.rollback()  # end the read transaction: the test send opens its own
    try:
        send_test_email(svc, version_id, to_address, contact_id)
    except TemplateError as exc:
        flash(_("The template could not be rendered: %(error)s", error=_(str(exc))), "error")
    except (smtplib.SMTPException, OSError) as exc:
        flash(_("The test mail could not be sent: %(error)s", error=_(str(exc)) or exc.__class__.__name__), "error")
    except ValueError as exc:
        flash(_(str(exc)), "error")
    else:
        flash(_("Test mail sent to %(to)s.", to=to_address), "success")
    return redirect(back)


def _int_arg(name: str) -> int:
    """A positive integer query argument, or 0 when absent or malformed."""
    return parse_id(request.args.get(name)) or 0


# ------------------------------------------------------------------ the block editor
class BlockMailForm(CheckedForm):
    """The block editor's fields; the document is one hidden JSON field, validated by campaigns.delivery.blocks."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=998)])
    preheader = StringField("Preheader", validators=[Length(max=500)])
    from_name = StringField("Sender name", validators=[Length(max=200)])


BLOCK_FIELDS = ("name", "subject", "preheader", "from_name")


def _starter_blocks(s: Session) -> dict[str, Any]:
    return block_mails.starter_document(
        s, heading=_('Thank you for your interest, {{ contact.first_name | default("there") }}'),
        text=_("Write your message here. Select text to make it bold or add a link."), button=_("Read more"),
    )


def _save_blocks(s: Session, template: Template | None, form: BlockMailForm) -> tuple[Template | None, list[str]]:
    """Save the posted document as a new version (a new template when None); (template, errors)."""
    document = mail_blocks.read_document(request.form.get("blocks_json"))
    if document is None:
        return None, [_("The mail's blocks could not be read; reload the page and try again.")]
    fields = {"document": document, "subject": form.subject.data or "", "preheader": form.preheader.data or "",
              "from_name": form.from_name.data or ""}
    settings = services().settings
    try:
        if template is None:
            template = block_mails.create_block_template(s, settings, (form.name.data or "").strip(), **fields)
        else:
            template.name = (form.name.data or "").strip()
            block_mails.save_block_version(s, settings, template, untracked_urls=_untracked_urls(), **fields)
    except TemplateError as exc:
        s.rollback()
        return None, [mail_blocks.translate_problem(str(exc))]
    return template, []


def _blocks_page(s: Session, form: BlockMailForm, template: Template | None, version: TemplateVersion | None,
                 document: dict[str, Any], errors: list[str], status: int) -> Any:
    current = template.current_version if template else None
    return render_template(
        "ui/templates/blocks.html", form=form, template=template, version=version, current=current,
        versions=_versions(s, template) if template else [], links=list(version.links) if version else [],
        errors=errors, editor=mail_blocks.editor_data(s, document, block_mails.brand_kit(s)),
        words=mail_blocks.vocabulary(), test_to=request.args.get("to", ""),
    ), status


@bp.route("/blocks/new", methods=["GET", "POST"])
@checks_own_text(*BLOCK_FIELDS)
def blocks_new() -> Any:
    """A new block mail: the editor with the brand's starter blocks; POST creates the template."""
    s = services().db.session
    form = BlockMailForm()
    errors: list[str] = []
    document = _starter_blocks(s)
    if request.method == "POST":
        posted = mail_blocks.read_document(request.form.get("blocks_json"))
        document = posted if isinstance(posted, dict) else document
        if form.validate_on_submit():
            template, errors = _save_blocks(s, None, form)
            if template is not None:
                warnings = block_mails.merge_tag_warnings(s, [form.subject.data or ""] + _block_sources(document))
                s.commit()
                _flash_saved(warnings)
                return redirect(url_for("templates.blocks_edit", template_id=template.id))
        else:
            errors = [_(e[0]) for e in form.errors.values()]
    return _blocks_page(s, form, None, None, document, errors, 400 if request.method == "POST" else 200)


@bp.route("/<int:template_id>/blocks", methods=["GET", "POST"])
@checks_own_text(*BLOCK_FIELDS)
def blocks_edit(template_id: int) -> Any:
    """The block editor of a saved block mail; POST saves a new version."""
    s = services().db.session
    template = _template_or_404(s, template_id)
    shown = template.current_version
    wanted = _int_arg("version")
    if wanted:
        shown = _version_or_404(s, template, wanted)
    if shown is not None and shown.editor != "blocks":
        return redirect(url_for("templates.edit", template_id=template.id))
    form = BlockMailForm(obj=shown) if request.method == "GET" else BlockMailForm()
    if request.method == "GET":
        form.name.data = template.name
    document: dict[str, Any] = (shown.blocks if shown and shown.blocks else None) or _starter_blocks(s)
    errors: list[str] = []
    if request.method == "POST":
        posted = mail_blocks.read_document(request.form.get("blocks_json"))
        document = posted if isinstance(posted, dict) else document
        if form.validate_on_submit():
            saved, errors = _save_blocks(s, template, form)
            if saved is not None:
                warnings = block_mails.merge_tag_warnings(s, [form.subject.data or ""] + _block_sources(document))
                s.commit()
                _flash_saved(warnings)
                return redirect(url_for("templates.blocks_edit", template_id=template.id))
        else:
            errors = [_(e[0]) for e in form.errors.values()]
    return _blocks_page(s, form, template, shown, document, errors, 400 if request.method == "POST" else 200)


def _block_sources(document: Any) -> list[str]:
    try:
        return block_sources(validate_document(document))
    except BlockError:
        return []


def _flash_saved(warnings: list[str]) -> None:
    flash(_("Template saved."), "success")
    for warning in warnings:
        flash(_("Check this merge tag: %(warning)s", warning=mail_blocks.translate_problem(warning)), "error")


@bp.post("/blocks/preview")
@checks_own_text(*BLOCK_FIELDS)
def blocks_preview() -> Any:
    """The unsaved block mail as a contact would see it, light and dark, with merge-tag warnings; nothing is
    stored (the transaction is rolled back)."""
    svc = services()
    s = svc.db.session
    form = BlockMailForm()
    document = mail_blocks.read_document(request.form.get("blocks_json"))
    if document is None:
        return jsonify(ok=False, error=_("The mail's blocks could not be read; reload the page and try again.")), 400
    needle = request.form.get("preview_contact", "").strip()
    subject = form.subject.data or _("(no subject)")
    try:
        contact = find_contact(s, needle)
        template = Template(name="preview")
        s.add(template)
        s.flush()
        version = block_mails.save_block_version(
            s, svc.settings, template, document=document, subject=subject, preheader=form.preheader.data or "",
            from_name=form.from_name.data or "")
        rendered = render_preview(s, version, contact, svc)
        warnings = block_mails.merge_tag_warnings(s, [subject] + _block_sources(document))
        contact_email = contact.email if contact else ""
    except TemplateError as exc:
        return jsonify(ok=False, error=mail_blocks.translate_problem(str(exc))), 400
    finally:
        s.rollback()
    return jsonify(
        ok=True, subject=rendered.subject, html=mail_blocks.local_images(rendered.html),
        dark_html=mail_blocks.local_images(dark_preview(rendered.html)),
        text=rendered.text, contact=contact_email,
        warnings=[mail_blocks.translate_problem(w) for w in warnings],
        notice=_("No contact matches %(needle)s: showing sample data.", needle=needle) if needle and not contact_email else "",
    )


@bp.post("/<int:template_id>/convert-to-html")
def convert_to_html(template_id: int) -> Any:
    """Turn a block mail into an HTML mail (a new version); there is no way back to blocks."""
    s = services().db.session
    template = _template_or_404(s, template_id)
    try:
        block_mails.convert_to_html(s, template)
    except TemplateError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("templates.edit", template_id=template.id))
    s.commit()
    flash(_("Converted to HTML: edit the source below. The block version stays in the history."), "success")
    return redirect(url_for("templates.edit", template_id=template.id))


# ------------------------------------------------------------------ the image library
@bp.route("/images", methods=["GET", "POST"])
def images() -> Any:
    """The image library: every uploaded image to reuse; POST uploads one (the page's form or the editor's
    picker, which asks for JSON)."""
    svc = services()
    s = svc.db.session
    wants_json = request.accept_mimetypes.best == "application/json"
    if request.method == "POST":
        upload = request.files.get("image")
        try:
            if upload is None or not upload.filename:
                raise mail_assets.AssetError("choose an image file")
            # read one byte past the limit: enough to tell "too large" without holding a huge upload
            data = upload.stream.read(mail_assets.MAX_UPLOAD_BYTES + 1)
            asset = mail_assets.store_image(s, svc.settings, upload.filename, data)
        except mail_assets.AssetError as exc:
            s.rollback()
            if wants_json:
                return jsonify(ok=False, error=_(str(exc))), 400
            flash(_(str(exc)), "error")
            return redirect(url_for("templates.images"))
        s.commit()
        if wants_json:
            return jsonify(ok=True, image={"id": asset.id, "name": asset.name, "width": asset.width,
                                           "height": asset.height, "url": mail_assets.asset_url(svc.settings, asset),
                                           "view": mail_blocks.local_url(asset.stored_name)})
        flash(_("Image uploaded."), "success")
        return redirect(url_for("templates.images"))
    return render_template("ui/templates/images.html", images=mail_blocks.library_json(s))
