"""Frozen types produced by the config evaluator and consumed by the MPM settings stage."""

from __future__ import annotations

from dataclasses import dataclass

from capplan.location import Location


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive httpd would run in its walk pass, after conditionals and includes.

    `name` is as written (httpd matches names case-insensitively; use `key` to compare),
    `args` are the words after the name with quotes removed and `${VAR}` substituted,
    `sections` names the enclosing non-conditional containers, outermost first
    (for example `("VirtualHost",)` or `("VirtualHost", "Directory")`).
    A container opener is itself a directive named with its `<` (`<VirtualHost`, args `*:80`);
    EXEC_ON_READ directives (Define, Include, LoadModule, ServerRoot, If* sections) are not.
    """

    name: str
    args: tuple[str, ...]
    location: Location
    sections: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """A `LoadModule identifier path` that survived conditionals."""

    identifier: str
    path: str
    location: Location


@dataclass(frozen=True, slots=True)
class HttpdWarning:
    """A message httpd itself would print (`code` like `AH00111`), with where it arises."""

    code: str
    message: str
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class EvaluatedConfig:
    """The result of evaluating a main config file and everything it includes."""

    main_file: str
    server_root: str
    directives: tuple[Directive, ...]
    modules: tuple[LoadedModule, ...]
    defines: tuple[tuple[str, str], ...]
    warnings: tuple[HttpdWarning, ...]
    files_read: tuple[str, ...]
