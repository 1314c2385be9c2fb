"""A person's messages: to an agent, a role, everyone, or a task's thread, as message_send sends them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taskloom.errors import InvalidInput
from taskloom.services import messages
from taskloom.web.app import View, form_of, local_target, page
from taskloom.web.routes.tasks import MAX_TEXT


@page
async def send(request: Request, view: View) -> Response:
    form = await form_of(request)
    name = view.web.guard.check_action(request, view.person, form.get("csrf") or request.headers.get("x-csrf-token"))
    to = form.get("to", "").strip()
    body = form.get("body", "")
    subject = form.get("subject", "").strip() or None
    if len(body) > MAX_TEXT:
        raise InvalidInput(f"The message is {len(body)} characters; at most {MAX_TEXT}.", hint="Shorten it.")
    await view.web.app.write(messages.send, to or None, body, subject, agent=name)
    return RedirectResponse(local_target(form.get("back", "")), status_code=303)


ROUTES = [Route("/messages", send, methods=["POST"])]
