"""Text from results: the Markdown comment and summary, the console tables, the charts.

Pure functions only: results in, text out.  Files and the network belong to
`cli.py` and `github/`.
"""
