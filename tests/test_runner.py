"""The schedule: interleaving from the seed, warm-ups apart, adaptive stopping, failures."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from perfgate.errors import BenchmarkFailed
from perfgate.measure.schedule import Target, run_pairs, run_single
from perfgate.progress import Progress

PY = sys.executable


def target(tmp_path: Path, side: str, code: str) -> Target:
    return Target(side, (PY, "-c", code), tmp_path, dict(os.environ), 60, tmp_path / "logs")


def counting(tmp_path: Path, side: str) -> Target:
    """A target that appends its side to a shared file, so the real order can be read back."""
    record = tmp_path / "order.txt"
    return target(tmp_path, side, f"open({str(record)!r}, 'a').write({side!r} + '\\n')")


def quiet() -> Progress:
    return Progress(io.StringIO(), live=False)


def test_pairs_follow_the_seed_and_warmups_are_not_returned(tmp_path: Path) -> None:
    base, head = counting(tmp_path, "base"), counting(tmp_path, "head")
    b, h = run_pairs(
        base, head, runs=5, max_runs=5, warmup=2, seed=42, time_budget_s=None,
        settled=lambda *_: True, progress=quiet(),
    )  # fmt: skip
    assert len(b) == len(h) == 5
    ran = (tmp_path / "order.txt").read_text().split()
    assert ran[:4] == ["base", "head", "base", "head"]  # warm-ups, one per side per round
    # random.Random(42).random() draws 0.639, 0.025, 0.275, 0.223, 0.736: base goes first
    # where the draw is below one half (worked out by hand, not by pair_orders).
    expected = ["head", "base"] + ["base", "head"] * 3 + ["head", "base"]
    assert ran[4:] == expected
    orders = sorted(s.order for s in b + h)
    assert orders == list(range(10))
    for k in range(5):
        pair = {s.order for s in b if s.order // 2 == k} | {s.order for s in h if s.order // 2 == k}
        assert pair == {2 * k, 2 * k + 1}
    base_orders = [s.order for s in b]
    assert [expected[o] for o in base_orders] == ["base"] * 5


def test_the_order_within_pairs_is_shuffled_not_fixed(tmp_path: Path) -> None:
    """Thirty pairs: base first in about half of them (binomial, 30 draws of one half:
    outside 8..22 with probability 0.5%), and each order somewhere; a schedule that always
    runs base first (or head first) cannot pass, whatever the seed."""
    for seed in (7, 2024):
        record = tmp_path / "order.txt"
        record.unlink(missing_ok=True)
        run_pairs(
            counting(tmp_path, "base"), counting(tmp_path, "head"), runs=30, max_runs=30,
            warmup=0, seed=seed, time_budget_s=None, settled=lambda *_: True, progress=quiet(),
        )  # fmt: skip
        ran = record.read_text().split()
        pairs = [tuple(ran[i : i + 2]) for i in range(0, len(ran), 2)]
        assert set(pairs) == {("base", "head"), ("head", "base")}, seed
        assert 8 <= pairs.count(("base", "head")) <= 22, (seed, pairs)


def test_adaptive_sampling_adds_pairs_until_settled(tmp_path: Path) -> None:
    calls = []

    def settled(b, h) -> bool:
        calls.append(len(b))
        return len(b) >= 7

    b, h = run_pairs(
        target(tmp_path, "base", "pass"), target(tmp_path, "head", "pass"),
        runs=4, max_runs=20, warmup=0, seed=1, time_budget_s=None,
        settled=settled, progress=quiet(),
    )  # fmt: skip
    assert len(b) == len(h) == 7
    assert calls == [4, 5, 6, 7]


def test_adaptive_sampling_stops_at_max_runs_and_at_the_budget(tmp_path: Path) -> None:
    never = lambda *_: False  # noqa: E731
    b, _ = run_pairs(
        target(tmp_path, "base", "pass"), target(tmp_path, "head", "pass"),
        runs=3, max_runs=5, warmup=0, seed=1, time_budget_s=None, settled=never, progress=quiet(),
    )  # fmt: skip
    assert len(b) == 5
    stream = io.StringIO()
    b, _ = run_pairs(
        target(tmp_path, "base", "pass"), target(tmp_path, "head", "pass"),
        runs=3, max_runs=50, warmup=0, seed=1, time_budget_s=0.001, settled=never,
        progress=Progress(stream, live=False),
    )  # fmt: skip
    assert len(b) == 3
    assert "time budget" in stream.getvalue()


def test_failing_head_raises_with_side_and_log_tail(tmp_path: Path) -> None:
    failing = "import sys; print('head exploded', file=sys.stderr); sys.exit(3)"
    with pytest.raises(BenchmarkFailed) as raised:
        run_pairs(
            target(tmp_path, "base", "pass"), target(tmp_path, "head", failing),
            runs=3, max_runs=3, warmup=0, seed=1, time_budget_s=None,
            settled=lambda *_: True, progress=quiet(),
        )  # fmt: skip
    assert raised.value.side == "head"
    assert "exited with code 3" in str(raised.value)
    assert "head exploded" in raised.value.log_tail
    assert raised.value.exit_code == 3


def test_failing_warmup_is_a_failure_too(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFailed, match="warm-up"):
        run_single(
            target(tmp_path, "run", "raise SystemExit(1)"), runs=2, warmup=1, progress=quiet()
        )


def test_timeout_is_named(tmp_path: Path) -> None:
    slow = Target(
        "run",
        (PY, "-c", "import time; time.sleep(30)"),
        tmp_path,
        dict(os.environ),
        0.5,
        tmp_path / "logs",
    )
    with pytest.raises(BenchmarkFailed, match="timed out after 0.5 s"):
        run_single(slow, runs=1, warmup=0, progress=quiet())


def test_run_single_numbers_runs_and_reports_progress(tmp_path: Path) -> None:
    stream = io.StringIO()
    samples = run_single(
        target(tmp_path, "run", "pass"), runs=3, warmup=1, progress=Progress(stream, live=False)
    )
    assert [s.order for s in samples] == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert "run warm-up run 1 of 1" in lines[0]
    assert lines[-1].startswith("run run 3 of 3")
    assert "\r" not in stream.getvalue()
    # No estimate before the first measured run; after it, one from the runs so far.
    assert lines[1] == "run run 1 of 3"
    assert lines[2].startswith("run run 2 of 3 · ~") and lines[2].endswith(" left")


def test_unsettled_runs_grow_to_the_next_planned_look_and_progress_says_how_far(
    tmp_path: Path,
) -> None:
    calls = []

    def settled(b, h) -> bool:
        calls.append(len(b))
        return len(b) >= 6

    stream = io.StringIO()
    b, h = run_pairs(
        target(tmp_path, "base", "pass"), target(tmp_path, "head", "pass"),
        runs=4, max_runs=9, warmup=0, seed=1, time_budget_s=None,
        settled=settled, progress=Progress(stream, live=False), looks=[4, 6, 9],
    )  # fmt: skip
    assert len(b) == len(h) == 6 and calls == [4, 6]
    lines = stream.getvalue().splitlines()
    assert lines[0] == "base run 1 of 4 (up to 9)" or lines[0] == "head run 1 of 4 (up to 9)"
    later = [line for line in lines if " run 5 of 6 (up to 9)" in line]
    assert later and all(", up to ~" in line and "if runs are added" in line for line in later)
