"""Reports.  heavylib is imported inside the function that needs it, so importing
appkit stays cheap and only code that renders a report pays for heavylib."""


def render_report(rows: list[dict]) -> str:
    import heavylib

    return heavylib.render(rows)


def count_rows(rows: list[dict]) -> int:
    return len(rows)
