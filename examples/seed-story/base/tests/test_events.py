"""Async code tested with an event loop per test, closed after it."""

import asyncio


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


def run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_double():
    assert run(double(2)) == 4


def test_double_zero():
    assert run(double(0)) == 0
