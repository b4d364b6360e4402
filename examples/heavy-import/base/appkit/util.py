"""Small helpers that need nothing heavy."""


def slugify(text: str) -> str:
    return "-".join(text.lower().split())


def total(prices: list[float]) -> float:
    return round(sum(prices), 2)
