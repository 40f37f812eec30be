"""The queueing engine: Erlang B/C, M/G/c waits, M/M/c/K, Poisson tails, holding times, sizing.

Stage: numeric core between the per-MPM models and the reports. Input: servers, loads (Erlangs),
holding-time inputs. Output: frozen result types and floats (probabilities in [0, 1], never NaN;
overload is `stable=False` with infinite waits). Normative reference: derivations §2, §3, §7, §8.

Arguments are checked here (TypeError for a wrong type such as a float or bool server count,
ValueError for a bad value); the command line validates its flags before calling.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capplan.queueing.erlang import (
        check_load,
        check_servers,
        erlang_b,
        erlang_b_log10,
        erlang_b_real,
        erlang_b_recursion,
        erlang_c,
        erlang_c_from_b,
        erlang_c_log10,
        erlang_c_real,
    )
    from capplan.queueing.holding import (
        FixedVisits,
        GapMoments,
        GeometricVisits,
        HoldingInputs,
        HoldingTime,
        MixedVisits,
        VisitShape,
        gap_moments,
        holding_time,
        mean_holding_insensitive,
        requests_per_connection_cap,
    )
    from capplan.queueing.mmck import (
        BlockingEstimate,
        MMcKResult,
        blocking_estimate,
        mmck,
        p_block_from_b,
    )
    from capplan.queueing.poisson import (
        poisson_cdf,
        poisson_logpmf,
        poisson_quantile,
        poisson_sf,
    )
    from capplan.queueing.retrial import (
        LINUX_CONNECT_ATTEMPTS,
        RetrialResult,
        finite_queue_with_retrials,
    )
    from capplan.queueing.sizing import (
        max_load_block,
        max_load_erlang_b,
        max_load_erlang_c,
        max_load_wait_tail,
        min_servers_block,
        min_servers_erlang_b,
        min_servers_erlang_c,
        min_servers_wait_tail,
        round_up_to_multiple,
    )
    from capplan.queueing.waiting import MGcResult, mgc, mmc

# The names below are imported from their submodule on first use (PEP 562), so that importing one
# submodule (`capplan.queueing.search` for the recommendation's search) does not load the whole
# engine; `from capplan.queueing import erlang_b` works as before.
_SUBMODULES = ("erlang", "holding", "mmck", "poisson", "retrial", "sizing", "waiting")

# `mmck` names both a submodule and its main function: bound now, after the submodule is loaded,
# so that the package attribute is the function (an import of the submodule later keeps it).
from capplan.queueing.mmck import mmck  # noqa: E402

__all__ = [
    "LINUX_CONNECT_ATTEMPTS",
    "BlockingEstimate",
    "FixedVisits",
    "GapMoments",
    "GeometricVisits",
    "HoldingInputs",
    "HoldingTime",
    "MGcResult",
    "MMcKResult",
    "MixedVisits",
    "RetrialResult",
    "VisitShape",
    "blocking_estimate",
    "check_load",
    "check_servers",
    "erlang_b",
    "erlang_b_log10",
    "erlang_b_real",
    "erlang_b_recursion",
    "erlang_c",
    "erlang_c_from_b",
    "erlang_c_log10",
    "erlang_c_real",
    "finite_queue_with_retrials",
    "gap_moments",
    "holding_time",
    "max_load_block",
    "max_load_erlang_b",
    "max_load_erlang_c",
    "max_load_wait_tail",
    "mean_holding_insensitive",
    "mgc",
    "min_servers_block",
    "min_servers_erlang_b",
    "min_servers_erlang_c",
    "min_servers_wait_tail",
    "mmc",
    "mmck",
    "p_block_from_b",
    "poisson_cdf",
    "poisson_logpmf",
    "poisson_quantile",
    "poisson_sf",
    "requests_per_connection_cap",
    "round_up_to_multiple",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for submodule in _SUBMODULES:
            module = import_module(f"capplan.queueing.{submodule}")
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'capplan.queueing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
