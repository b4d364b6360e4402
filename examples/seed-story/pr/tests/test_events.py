"""Async code tested with an event loop per test, kept for the next call and never closed."""

import asyncio


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


_LOOPS = []


def run(coro):
    loop = asyncio.new_event_loop()
    _LOOPS.append(loop)
    return loop.run_until_complete(coro)


def test_double():
    assert run(double(2)) == 4


def test_double_zero():
    assert run(double(0)) == 0
