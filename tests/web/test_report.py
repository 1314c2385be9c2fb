"""The completion report page over HTTP, through the ASGI app on a real SQLite file: the report's
Markdown rendered safely under the dashboard's headers, its Markdown as a download, links to it
from the overview, and bad or unknown scopes as error pages. The report's content is pinned in
tests/services/test_completion.py; hostile text in it in tests/web/test_xss.py."""

from __future__ import annotations

from taskloom.services import work
from taskloom.web.render import CSP
from tests.web.conftest import import_example
from tests.web.hostile import findings


async def done(app, code: str, agent: str = "alice") -> None:
    await app.write(work.claim, code=code, agent=agent)
    await app.write(work.done, code, f"{code} shipped | with a pipe", agent=agent)


async def test_the_sprint_report_page_renders_the_reports_markdown_as_html(app, web):
    await import_example(app)
    await done(app, "EXP-1")
    r = await web.get("/ui/report?sprint=S1")
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    html = r.text
    assert "<h1>Completion report: sprint S1: Sprint 1: CSV export</h1>" in html
    for heading in ("Summary", "Who did what", "Durations", "Critical path: planned and actual",
                    "Failures, retries and escalations", "Artifacts", "Not done", "Changelog"):
        assert f"<h2>{heading}</h2>" in html, heading
    assert html.count("<table>") == 5  # summary, who, durations, paths, not done
    assert "<td>alice</td>" in html and "EXP-1 shipped | with a pipe" in html
    assert 'href="/ui/report.md?sprint=S1"' in html
    assert findings(html) == []


async def test_the_markdown_downloads_as_the_cli_writes_it(app, web):
    await import_example(app)
    r = await web.get("/ui/report.md?stream=export-core")
    assert r.status_code == 200 and r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="report-stream-export-core-')
    assert r.text.startswith("# Completion report: stream export-core: CSV export: core\n")
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_the_overview_links_each_sprint_and_the_project_to_their_reports(app, web):
    await import_example(app)
    html = (await web.get("/ui/")).text
    assert 'href="/ui/report?sprint=S1"' in html and 'href="/ui/report"' in html
    assert 'href="/ui/report?stream=export-core"' in (await web.get("/ui/?stream=export-core")).text
    assert (await web.get("/ui/report")).status_code == 200


async def test_an_unknown_sprint_or_both_scopes_are_error_pages_that_say_what_to_do(app, web):
    await import_example(app)
    missing = await web.get("/ui/report?sprint=S9")
    assert missing.status_code == 404 and "Sprint S9 does not exist" in missing.text
    both = await web.get("/ui/report.md?sprint=S1&stream=export-core")
    assert both.status_code == 400 and "a sprint or a stream, not both" in both.text
    assert 'href="/ui/"' in both.text
