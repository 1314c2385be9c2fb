"""Messages over MCP: direct, role, broadcast and task-thread audiences; replies; reading and acks.

Every call names its agent with `agent=...`, so one connection plays several agents. An agent
exists once it has made a successful call (agent_init registers it with a role).
"""

from __future__ import annotations

from mcp import Client

from taskloom.server import build_server
from tests.conftest import call, call_error

KIB64 = 64 * 1024


async def join(client, name: str, role: str | None = None) -> None:
    args = {"agent": name} if role is None else {"agent": name, "role": role}
    await call(client, "agent_init", **args)


async def send(client, sender: str, to: str | None = None, body: str = "hello", **extra) -> dict:
    args = {"agent": sender, "body": body, **extra}
    if to is not None:
        args["to"] = to
    return await call(client, "message_send", **args)


async def inbox(client, agent: str, **filters) -> dict:
    return await call(client, "message_inbox", agent=agent, **filters)


async def bodies(client, agent: str, **filters) -> list[str]:
    return [m["body"] for m in (await inbox(client, agent, **filters))["messages"]]


async def make_task(client, creator: str, title: str = "the work") -> str:
    created = await call(client, "task_create", tasks=[{"title": title}], agent=creator)
    return created["tasks"][0]["code"]


# ---------------------------------------------------------------- direct


async def test_a_direct_message_reaches_only_its_recipient(client):
    for name in ("alice", "bob", "carol"):
        await join(client, name)
    sent = await send(client, "alice", "bob", "Can you review T-3?\nDetails follow.")
    assert (sent["to"], sent["reached"], sent["redacted"]) == ("agent:bob", 1, 0)
    assert sent["message"] == "Sent."

    [msg] = (await inbox(client, "bob"))["messages"]
    assert msg["id"] == sent["id"]
    assert (msg["sender"], msg["to"], msg["kind"]) == ("alice", "agent:bob", "message")
    assert msg["subject"] == "Can you review T-3?"  # the body's first line
    assert msg["body"] == "Can you review T-3?\nDetails follow."
    assert (msg["read"], msg["acked"], msg["ack_required"], msg["task"], msg["reply_to"]) == (
        False, False, False, None, None,
    )
    assert await bodies(client, "carol") == []
    assert await bodies(client, "alice") == []  # the sender does not get its own message


async def test_agent_prefix_and_bare_name_address_the_same_inbox(client):
    await join(client, "alice")
    await join(client, "bob")
    a = await send(client, "alice", "bob", "bare")
    b = await send(client, "alice", "agent:bob", "prefixed")
    assert a["to"] == b["to"] == "agent:bob"
    assert sorted(await bodies(client, "bob")) == ["bare", "prefixed"]


async def test_an_explicit_subject_is_kept_and_a_long_first_line_is_shortened(client):
    await join(client, "alice")
    await join(client, "bob")
    await send(client, "alice", "bob", "body text", subject="Deploy window")
    await send(client, "alice", "bob", "x" * 100 + "\nrest")
    subjects = [m["subject"] for m in (await inbox(client, "bob"))["messages"]]
    assert subjects == ["Deploy window", "x" * 77 + "..."]


# ---------------------------------------------------------------- roles


async def test_a_role_message_reaches_every_member_and_no_one_else(client):
    await join(client, "alice")
    await join(client, "dev-1", role="dev")
    await join(client, "dev-2", role="dev")
    await join(client, "qa-1", role="qa")
    sent = await send(client, "alice", "role:dev", "API frozen until Friday")
    assert (sent["to"], sent["reached"]) == ("role:dev", 2)
    assert await bodies(client, "dev-1") == ["API frozen until Friday"]
    assert await bodies(client, "dev-2") == ["API frozen until Friday"]
    assert await bodies(client, "qa-1") == []
    assert await bodies(client, "alice") == []


async def test_an_agent_joining_a_role_later_also_sees_its_messages(client):
    await join(client, "alice")
    await join(client, "dev-1", role="dev")
    await send(client, "alice", "role:dev", "before you came")
    await join(client, "dev-2", role="dev")
    [msg] = (await inbox(client, "dev-2"))["messages"]
    assert (msg["body"], msg["to"], msg["read"]) == ("before you came", "role:dev", False)


async def test_each_member_of_a_role_has_its_own_read_state(client):
    await join(client, "alice")
    await join(client, "dev-1", role="dev")
    await join(client, "dev-2", role="dev")
    sent = await send(client, "alice", "role:dev", "please ack", ack_required=True)
    await call(client, "message_ack", ids=[sent["id"]], agent="dev-1")
    assert (await inbox(client, "dev-1"))["unread"] == 0
    two = await inbox(client, "dev-2")
    assert two["unread"] == 1
    assert (two["messages"][0]["read"], two["messages"][0]["acked"]) == (False, False)


async def test_a_role_member_sending_to_its_own_role_does_not_count_or_see_itself(client):
    await join(client, "dev-1", role="dev")
    await join(client, "dev-2", role="dev")
    sent = await send(client, "dev-1", "role:dev", "note to my team")
    assert sent["reached"] == 1
    assert await bodies(client, "dev-1") == []
    assert await bodies(client, "dev-2") == ["note to my team"]


async def test_a_defined_role_without_members_is_a_valid_audience_that_waits(client):
    await join(client, "alice")
    await call(client, "role_define", role={"slug": "sre", "definition": "keeps it running"})
    sent = await send(client, "alice", "role:sre", "disk is filling up")
    assert (sent["to"], sent["reached"]) == ("role:sre", 0)
    assert "Nobody can read it yet" in sent["message"]
    await join(client, "sre-1", role="sre")
    assert await bodies(client, "sre-1") == ["disk is filling up"]


# ---------------------------------------------------------------- broadcast


async def test_a_broadcast_reaches_everyone_but_the_sender(client):
    for name in ("alice", "bob", "carol"):
        await join(client, name)
    sent = await send(client, "alice", "all", "standup in 5")
    assert (sent["to"], sent["reached"]) == ("all", 2)
    assert await bodies(client, "bob") == ["standup in 5"]
    assert await bodies(client, "carol") == ["standup in 5"]
    assert await bodies(client, "alice") == []
    await join(client, "late")
    assert await bodies(client, "late") == ["standup in 5"]


async def test_a_broadcast_by_a_first_time_sender_counts_everyone_else(client):
    await join(client, "bob")
    await join(client, "carol")
    sent = await send(client, "newcomer", "all", "hi everyone")  # newcomer's first call
    assert await bodies(client, "bob") == ["hi everyone"]
    assert await bodies(client, "carol") == ["hi everyone"]
    assert sent["reached"] == 2


# ---------------------------------------------------------------- task threads


async def test_a_task_thread_reaches_its_holder_and_creator_and_not_others(client):
    for name in ("alice", "bob", "carol", "dave"):
        await join(client, name)
    code = await make_task(client, "carol")
    await call(client, "task_claim", task=code, agent="bob")
    sent = await send(client, "alice", f"task:{code}", "which endpoint?")
    assert (sent["to"], sent["reached"]) == (f"task:{code}", 2)  # bob (holder), carol (creator)
    for reader in ("bob", "carol"):
        [msg] = (await inbox(client, reader))["messages"]
        assert (msg["to"], msg["task"], msg["body"]) == (f"task:{code}", code, "which endpoint?")
    assert await bodies(client, "dave") == []
    assert await bodies(client, "alice") == []


async def test_writing_in_a_thread_makes_an_agent_a_participant(client):
    for name in ("alice", "bob", "carol", "dave"):
        await join(client, name)
    code = await make_task(client, "carol")
    await send(client, "alice", f"task:{code}", "first question")
    # alice wrote in the thread, so she reads what others write there...
    second = await send(client, "carol", f"task:{code}", "answer from the creator")
    assert second["reached"] == 1  # alice; carol is the sender
    assert await bodies(client, "alice") == ["answer from the creator"]
    # ...and so does dave once he writes there, including what came before.
    assert await bodies(client, "dave") == []
    await send(client, "dave", f"task:{code}", "I can help")
    assert sorted(await bodies(client, "dave")) == ["answer from the creator", "first question"]
    assert sorted(await bodies(client, "carol")) == ["I can help", "first question"]


async def test_the_inbox_task_filter_returns_only_that_tasks_messages(client):
    for name in ("alice", "carol"):
        await join(client, name)
    one = await make_task(client, "carol", "one")
    two = await make_task(client, "carol", "two")
    await send(client, "alice", f"task:{one}", "about one")
    await send(client, "alice", f"task:{two}", "about two")
    await send(client, "alice", "carol", "not about a task")
    assert await bodies(client, "carol", task=one) == ["about one"]
    assert await bodies(client, "carol", task=two) == ["about two"]
    assert len(await bodies(client, "carol")) == 3
    err = await call_error(client, "message_inbox", agent="carol", task="T-404")
    assert err["code"] == "not_found"


# ---------------------------------------------------------------- replies


async def test_a_reply_goes_back_to_the_sender_with_a_re_subject(client):
    await join(client, "alice")
    await join(client, "bob")
    first = await send(client, "alice", "bob", "the body", subject="Schema change")
    reply = await send(client, "bob", body="looks fine", reply_to=first["id"])
    assert reply["to"] == "agent:alice"
    [msg] = (await inbox(client, "alice"))["messages"]
    assert (msg["subject"], msg["body"], msg["reply_to"], msg["sender"]) == (
        "Re: Schema change", "looks fine", first["id"], "bob",
    )
    # Replying to a reply does not stack prefixes.
    again = await send(client, "alice", body="thanks", reply_to=reply["id"])
    assert again["to"] == "agent:bob"
    latest = next(m for m in (await inbox(client, "bob"))["messages"] if m["id"] == again["id"])
    assert latest["subject"] == "Re: Schema change"


async def test_a_reply_to_a_role_or_broadcast_message_goes_to_its_sender_only(client):
    await join(client, "alice")
    await join(client, "dev-1", role="dev")
    await join(client, "dev-2", role="dev")
    question = await send(client, "alice", "role:dev", "who owns auth?")
    reply = await send(client, "dev-1", body="I do", reply_to=question["id"])
    assert (reply["to"], reply["reached"]) == ("agent:alice", 1)
    assert await bodies(client, "alice") == ["I do"]
    assert await bodies(client, "dev-2") == ["who owns auth?"]


async def test_a_reply_to_a_thread_message_goes_back_to_the_thread(client):
    for name in ("alice", "bob", "carol"):
        await join(client, name)
    code = await make_task(client, "carol")
    question = await send(client, "alice", f"task:{code}", "blocked on creds", subject="Creds")
    reply = await send(client, "carol", body="use the staging vault", reply_to=question["id"])
    assert reply["to"] == f"task:{code}"
    [msg] = (await inbox(client, "alice"))["messages"]
    assert (msg["to"], msg["task"], msg["subject"], msg["reply_to"]) == (
        f"task:{code}", code, "Re: Creds", question["id"],
    )
    assert await bodies(client, "bob") == []


async def test_an_explicit_to_overrides_where_a_reply_goes_and_keeps_the_task(client):
    for name in ("alice", "bob", "carol"):
        await join(client, name)
    code = await make_task(client, "carol")
    question = await send(client, "alice", f"task:{code}", "anyone?", subject="Q")
    aside = await send(client, "carol", "bob", "can you take this?", reply_to=question["id"])
    assert aside["to"] == "agent:bob"
    [msg] = (await inbox(client, "bob"))["messages"]
    assert (msg["subject"], msg["task"], msg["reply_to"]) == ("Re: Q", code, question["id"])


# ---------------------------------------------------------------- read state and acks


async def test_ack_required_messages_are_acknowledged_with_message_ack(client):
    await join(client, "alice")
    await join(client, "bob")
    sent = await send(client, "alice", "bob", "rotate the keys tonight", ack_required=True)
    before = await inbox(client, "bob")
    assert before["unread"] == 1
    assert (before["messages"][0]["ack_required"], before["messages"][0]["acked"]) == (True, False)

    acked = await call(client, "message_ack", ids=[sent["id"]], agent="bob")
    assert acked == {"acked": [sent["id"]], "unread": 0}
    after = (await inbox(client, "bob"))["messages"][0]
    assert (after["read"], after["acked"]) == (True, True)
    # Acknowledging again is harmless.
    assert await call(client, "message_ack", ids=[sent["id"], sent["id"]], agent="bob") == {
        "acked": [sent["id"]], "unread": 0,
    }


async def test_unread_counts_follow_mark_read_and_acks(client):
    await join(client, "alice")
    await join(client, "bob")
    ids = [(await send(client, "alice", "bob", f"m{i}"))["id"] for i in range(4)]
    assert (await inbox(client, "bob"))["unread"] == 4
    # Reading without mark_read changes nothing.
    assert (await inbox(client, "bob"))["unread"] == 4

    page = await inbox(client, "bob", limit=2, mark_read=True)
    assert [m["body"] for m in page["messages"]] == ["m0", "m1"]
    assert page["unread"] == 2  # the state after this call
    assert all(m["read"] for m in page["messages"])
    assert (await inbox(client, "bob"))["unread"] == 2
    assert await bodies(client, "bob", unread_only=True) == ["m2", "m3"]

    acked = await call(client, "message_ack", ids=[ids[3]], agent="bob")
    assert acked["unread"] == 1
    assert await bodies(client, "bob", unread_only=True) == ["m2"]
    acked = await call(client, "message_ack", ids=[ids[2]], agent="bob")
    assert acked["unread"] == 0
    assert (await inbox(client, "bob", unread_only=True)) == {"messages": [], "unread": 0}


async def test_mark_read_does_not_acknowledge(client):
    await join(client, "alice")
    await join(client, "bob")
    await send(client, "alice", "bob", "fyi", ack_required=True)
    await inbox(client, "bob", mark_read=True)
    [msg] = (await inbox(client, "bob"))["messages"]
    assert (msg["read"], msg["acked"]) == (True, False)


async def test_unread_messages_come_first_oldest_first_then_read_newest_first(client):
    await join(client, "alice")
    await join(client, "bob")
    ids = [(await send(client, "alice", "bob", f"m{i}"))["id"] for i in range(5)]
    await call(client, "message_ack", ids=[ids[1], ids[3]], agent="bob")
    got = (await inbox(client, "bob"))["messages"]
    assert [m["body"] for m in got] == ["m0", "m2", "m4", "m3", "m1"]
    assert [m["read"] for m in got] == [False, False, False, True, True]


async def test_an_agent_reads_only_its_own_receipts(client):
    await join(client, "alice")
    await join(client, "bob")
    await join(client, "carol")
    sent = await send(client, "alice", "all", "hello all")
    await call(client, "message_ack", ids=[sent["id"]], agent="bob")
    assert (await inbox(client, "carol"))["messages"][0]["read"] is False


async def test_two_connections_acting_as_different_agents_see_their_own_inboxes(app):
    async with Client(build_server(app), mode="legacy") as a, Client(build_server(app), mode="legacy") as b:
        await call(a, "agent_init", agent="alice")
        await call(b, "agent_init", agent="bob")
        # After agent_init, each connection acts as its agent when `agent` is omitted.
        sent = await call(a, "message_send", to="bob", body="from another connection")
        assert sent["to"] == "agent:bob"
        [msg] = (await call(b, "message_inbox"))["messages"]
        assert (msg["sender"], msg["body"]) == ("alice", "from another connection")
        assert (await call(a, "message_inbox"))["messages"] == []


# ---------------------------------------------------------------- bad input


async def test_unknown_recipients_are_not_found_and_nothing_is_sent(client):
    await join(client, "alice")
    await join(client, "bob")
    for to in ("nobody", "agent:nobody", "role:ghosts", "task:T-404"):
        err = await call_error(client, "message_send", agent="alice", to=to, body="hi")
        assert err["code"] == "not_found", to
    feed = await call(client, "activity_feed", kind="message", by_agent="alice")
    assert feed["events"] == []
    # The same query does see a message alice did send.
    await send(client, "alice", "bob", "now a real one")
    feed = await call(client, "activity_feed", kind="message", by_agent="alice")
    assert [(e["kind"], e["subject"]) for e in feed["events"]] == [("message.sent", "agent:bob")]
    assert await bodies(client, "bob") == ["now a real one"]


async def test_an_empty_body_is_invalid_input(client):
    await join(client, "alice")
    await join(client, "bob")
    for body in ("", "   \n\t"):
        err = await call_error(client, "message_send", agent="alice", to="bob", body=body)
        assert err["code"] == "invalid_input"
    assert await bodies(client, "bob") == []


async def test_no_recipient_and_no_reply_to_is_invalid_input(client):
    await join(client, "alice")
    err = await call_error(client, "message_send", agent="alice", body="to whom?")
    assert err["code"] == "invalid_input"


async def test_a_body_over_64_kib_is_too_large_and_one_at_the_limit_is_fine(client):
    await join(client, "alice")
    await join(client, "bob")
    err = await call_error(client, "message_send", agent="alice", to="bob", body="x" * (KIB64 + 1))
    assert err["code"] == "too_large"
    # The limit is in UTF-8 bytes, not characters.
    err = await call_error(client, "message_send", agent="alice", to="bob", body="é" * (KIB64 // 2 + 1))
    assert err["code"] == "too_large"
    assert await bodies(client, "bob") == []
    ok = await send(client, "alice", "bob", "y" * KIB64)
    assert ok["reached"] == 1
    assert len((await bodies(client, "bob"))[0]) == KIB64


async def test_an_unknown_reply_to_is_not_found(client):
    await join(client, "alice")
    err = await call_error(client, "message_send", agent="alice", body="re", reply_to=999)
    assert err["code"] == "not_found"


async def test_acking_an_unknown_id_is_not_found_and_acknowledges_nothing(client):
    await join(client, "alice")
    await join(client, "bob")
    good = await send(client, "alice", "bob", "real", ack_required=True)
    err = await call_error(client, "message_ack", agent="bob", ids=[good["id"], 424242])
    assert err["code"] == "not_found"
    assert "424242" in err["message"]
    [msg] = (await inbox(client, "bob"))["messages"]
    assert (msg["read"], msg["acked"]) == (False, False)
    assert (await inbox(client, "bob"))["unread"] == 1


async def test_an_empty_ack_list_is_invalid_input(client):
    await join(client, "bob")
    err = await call_error(client, "message_ack", agent="bob", ids=[])
    assert err["code"] == "invalid_input"


# ---------------------------------------------------------------- redaction


async def test_secrets_in_body_and_subject_are_masked_and_counted(client):
    await join(client, "alice")
    await join(client, "bob")
    key = "sk-ant-api03-" + "Q" * 32
    sent = await send(
        client,
        "alice",
        "bob",
        f"the key is {key}\nand DB_PASSWORD=hunter2 too",
        subject="Bearer abcdefghijklmnopqrstuv",
    )
    assert sent["redacted"] == 3
    assert "3 secret(s) were masked" in sent["message"]
    [msg] = (await inbox(client, "bob"))["messages"]
    assert msg["body"] == "the key is [REDACTED]\nand DB_PASSWORD=[REDACTED] too"
    assert msg["subject"] == "Bearer [REDACTED]"


async def test_a_secret_in_the_first_line_is_masked_in_the_default_subject(client):
    await join(client, "alice")
    await join(client, "bob")
    sent = await send(client, "alice", "bob", "ghp_" + "a" * 36)
    assert sent["redacted"] == 1  # the subject is made from the already masked body
    [msg] = (await inbox(client, "bob"))["messages"]
    assert (msg["subject"], msg["body"]) == ("[REDACTED]", "[REDACTED]")


async def test_a_clean_message_reports_nothing_redacted(client):
    await join(client, "alice")
    await join(client, "bob")
    sent = await send(client, "alice", "bob", "the password: changed, see https://example.com/x")
    assert sent["redacted"] == 0
    assert await bodies(client, "bob") == ["the password: changed, see https://example.com/x"]


async def test_an_address_prefix_without_a_name_is_invalid_input(client):
    await join(client, "alice")
    for to in ("role:", "task:", "agent:", "role: "):
        err = await call_error(client, "message_send", to=to, body="hello?", agent="alice")
        assert err["code"] == "invalid_input" and "names no" in err["message"], (to, err)
