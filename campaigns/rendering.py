"""Sandboxed Jinja2 rendering of email templates; premailer inlining ONCE per template version.

Contract (used by the UI, the API and the sender):
- compile_version(session, template, subject=..., html_source=..., text_source="", preheader="",
  from_name="", untracked_urls=()) -> TemplateVersion: validates the Jinja2 source in the sandbox
  (raises TemplateError with a readable message), inlines CSS with premailer once, finds links and
  stores them as Link rows (positions in document order), rewrites tracked hrefs to placeholders,
  generates a text part when none is written, and makes the version the template's current one.
- render_message(compiled, context) -> RenderedMail(subject, html, text) for one recipient.
- render_preview(session, version, contact | None, svc) -> RenderedMail for the UI preview.
"""
