"""Renderers: frozen results → text (`table`, `json`, `format` for human numbers).

Renderers are pure and deterministic: no timestamps, no absolute paths the user did not give,
rounding only here. Import the submodule you need; none is imported eagerly (tabulate is heavy).
"""
