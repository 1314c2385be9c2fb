"""A person's messages: to an agent, a role, everyone, or a task's thread, as message_send sends them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taskloom.services import messages
from taskloom.web.app import View, form_of, local_target, page, text_field


@page
async def send(request: Request, view: View) -> Response:
    form = await form_of(request)
    name = view.web.guard.check_action(request, view.person, form.get("csrf") or request.headers.get("x-csrf-token"))
    to = form.get("to", "").strip()
    body = text_field(form, "body") or ""  # an empty one: the service says what a message needs
    subject = form.get("subject", "").strip() or None
    await view.web.app.write(messages.send, to or None, body, subject, agent=name)
    return RedirectResponse(local_target(form.get("back", "")), status_code=303)


ROUTES = [Route("/messages", send, methods=["POST"])]
