"""The completion report page: a sprint's, a stream's or the project's report, the same Markdown
`taskloom report` writes, rendered through web/markdown.py; and the Markdown itself to download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskloom.models.completion import CompletionReport
from taskloom.services import completion
from taskloom.services.completion_md import render
from taskloom.web.app import View, page
from taskloom.web.render import HEADERS

TEMPLATE = "report.html"


async def _report(request: Request, view: View) -> tuple[CompletionReport, str]:
    query = request.query_params
    report = await view.web.app.read(completion.build, query.get("sprint") or None, query.get("stream") or None)
    return report, render(report)


@page
async def report_page(request: Request, view: View) -> Response:
    report, text = await _report(request, view)
    return await view.web.pages.render(TEMPLATE, view.context(report=report, text=text))


@page
async def report_markdown(request: Request, view: View) -> Response:
    report, text = await _report(request, view)
    headers = {**HEADERS, "content-disposition": f'attachment; filename="{completion.file_name(report)}"'}
    return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)


ROUTES = [
    Route("/report", report_page, methods=["GET"], name="report"),
    Route("/report.md", report_markdown, methods=["GET"]),
]
