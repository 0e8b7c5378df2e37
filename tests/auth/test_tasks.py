"""Stopping background tasks, even one whose code swallows a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from rowgate.auth import tasks
from rowgate.auth.tasks import cancel_and_wait


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "RECANCEL_AFTER", 0.05)
    swallowed = 0

    async def stubborn() -> None:  # a check loop whose library call ate the first cancel
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait(task))
    done, _ = await asyncio.wait({stopping}, timeout=5)  # waits without cancelling either
    task.cancel()  # (a second cancel ends it, should it still run: the test leaves nothing behind)
    assert stopping in done, "cancel_and_wait waited for ever on a task that swallowed its cancellation"
    await stopping
    assert task.cancelled()
    assert swallowed == 1


async def test_every_task_is_stopped_before_an_exception_one_ended_with_is_raised() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise RuntimeError("unwinding failed")

    async def quiet() -> None:
        await asyncio.sleep(60)

    broken, other = asyncio.create_task(failing()), asyncio.create_task(quiet())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="unwinding failed"):
        await cancel_and_wait(broken, None, other)
    assert other.cancelled()


async def test_tasks_already_done_are_fine() -> None:
    async def done() -> None:
        return None

    task = asyncio.create_task(done())
    await task
    await cancel_and_wait(task, None)
    await cancel_and_wait()
