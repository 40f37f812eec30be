"""Access logs → traffic profiles (`capplan profile`).

Stages, each its own module: `logformat` (LogFormat string → compiled regexes; nicknames from a
config's directives), `reader` (files, gzip, stdin → blocks of whole lines, or byte ranges),
`parse` (block → mergeable `BlockStats`), `scan` (all inputs → merged `ScanResult`, in worker
processes), `derive` (result → `LogProfile` estimates → profile YAML text) and `pipeline` (the
whole chain for the CLI: `profile_logs(ProfileRequest)`). `stats` holds the streaming sketches and
`timeparse` the time-stamp parsers.
"""
