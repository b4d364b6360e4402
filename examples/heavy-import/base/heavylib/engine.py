"""The part of the dependency that does the work (and warms up at import)."""

# Warm-up at import: about 150 ms of pure-Python work on a typical machine.
_WARMUP = sum(hash((i, "warm")) % 7 for i in range(1_800_000))


def format_rows(rows: list[dict], widths: dict[str, int]) -> str:
    lines = []
    for row in rows:
        cells = [str(row.get(key, "")).ljust(width) for key, width in widths.items()]
        lines.append(" | ".join(cells))
    return "\n".join(lines)
