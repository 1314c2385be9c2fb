from tests.conftest import call, call_error


async def test_a_created_task_can_be_claimed_and_finished(client):
    made = await call(client, "task_create", tasks=[{"title": "first"}, {"title": "second", "depends_on": ["T-1"]}])
    assert [t["status"] for t in made["tasks"]] == ["ready", "waiting"]
    claim = await call(client, "task_claim")
    assert claim["detail"]["task"]["code"] == "T-1"
    done = await call(client, "task_done", task="T-1", summary="did it")
    assert done["unblocked"] == ["T-2"]


async def test_unknown_task_is_not_found(client):
    err = await call_error(client, "task_get", task="T-404")
    assert err["code"] == "not_found"
