"""Access logs → traffic profiles: LogFormat compiler, streaming readers, sketches, derivation.

Stages: `logformat` (format string → regex), `reader` (files → blocks of lines), `parse` (block →
sketches), `scan` (all inputs → merged `ScanResult`), `derive` (result → `LogProfile` and YAML).
"""
