"""Agent-written text is shown, never run: every page and region renders a hostile project safely."""

from __future__ import annotations

from taskloom.models import Plan
from taskloom.services import messages, planning, tasks, work
from tests.web.hostile import HOSTILE, findings

EVIL = HOSTILE[0] + " " + HOSTILE[1]


async def hostile_project(app) -> list[str]:
    """Tasks, streams, a sprint, notes, a blocker, a summary, agents and messages, all hostile."""
    plan = Plan.model_validate({
        "sprints": [{"code": "S1", "title": EVIL[:200], "goal": HOSTILE[3]}],
        "streams": [{"code": "s-a", "name": EVIL[:200], "description": HOSTILE[4]},
                    {"code": "s-b", "name": HOSTILE[5][:200], "depends_on": ["s-a"]}],
        "tasks": [
            {"code": f"X-{i}", "title": text[:200].replace("\x00", "") or "t", "description": text,
             "acceptance": text, "context": text, "stream": "s-a" if i % 2 else "s-b", "sprint": "S1",
             "role": "dev", "depends_on": [f"X-{i - 2}"] if i % 3 == 0 else []}
            for i, text in enumerate(HOSTILE, start=1)
        ],
    })
    await app.write(planning.import_plan, plan)
    codes = [f"X-{i}" for i in range(1, len(HOSTILE) + 1)]
    agent = "<script>alert('agent')</script>"
    for code, text in zip(codes, HOSTILE, strict=True):
        await app.write(tasks.add_note, code, "decision", text, agent="<b>bob</b>")
    await app.write(work.claim, code="X-1", agent=agent)
    await app.write(work.block, "X-1", EVIL, agent=agent)
    await app.write(work.claim, code="X-5", agent="\"><svg onload=alert(1)>")
    await app.write(work.done, "X-5", EVIL + " " + HOSTILE[3], agent="\"><svg onload=alert(1)>")
    await app.write(messages.send, "task:X-1", EVIL, EVIL[:200], agent="<i>eve</i>")
    return codes


async def test_every_page_and_region_renders_hostile_text_inert(app, web):
    codes = await hostile_project(app)
    paths = ["/ui/", "/ui/?stream=s-a", "/ui/login", "/ui/report", "/ui/report?stream=s-a"]
    paths += [f"/ui/p/{r}" for r in ("counts", "streams", "decisions", "agents", "activity", "graph")]
    for code in codes[:4]:
        paths += [f"/ui/task/{code}"] + [f"/ui/task/{code}/p/{r}" for r in ("live", "head", "body", "relations", "history",
                                                                             "thread", "actions")]
    for path in paths:
        r = await web.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert findings(r.text) == [], path
    page = (await web.get("/ui/task/X-1")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, escaped
