"""`capplan queue`: the queueing calculator (Erlang B/C, Allen-Cunneen waits, M/M/c/K blocking).

Input: flags (servers, load or rate and service time, SCV, accept-queue capacity, P(wait)
target). Output: a table or JSON (schema_version 1) of `capplan.queueing.metrics` metrics.
"""

from __future__ import annotations

import math
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import FormatOption, OutputOption, emit
from capplan.errors import CapplanError
from capplan.render.formats import OutputFormat, not_offered

_MIN_TARGET = 1e-300
_MAX_LOAD = 1e15


def _finite_non_negative(flag: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise CapplanError(f"{flag} {value!r}: must be a finite number >= 0")
    return value


@app.command("queue")
def queue_command(
    *,
    servers: Annotated[
        int, typer.Option("--servers", "-c", metavar="C", help="Number of servers (workers).")
    ],
    load: Annotated[
        float | None,
        typer.Option("--load", "-a", metavar="A", help="Offered load in Erlangs."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", metavar="L", help="Arrival rate per second (needs --service); load = L*S."
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            metavar="S",
            help="Mean holding (service) time: 80ms, 2s, 1.5min; a bare number is seconds.",
        ),
    ] = None,
    service_scv: Annotated[
        float,
        typer.Option(
            "--service-scv",
            metavar="SCV",
            help="Squared coefficient of variation of the holding time (1 = exponential).",
        ),
    ] = 1.0,
    queue: Annotated[
        int | None,
        typer.Option(
            "--queue",
            metavar="Q",
            help="Accept-queue capacity, min(ListenBacklog, somaxconn) + 1; adds P(block).",
        ),
    ] = None,
    target_wait: Annotated[
        float | None,
        typer.Option(
            "--target-wait",
            metavar="P",
            help="Target P(wait); also prints the smallest number of servers meeting it.",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """P(wait), mean and p99 wait and P(block) for C servers: Erlang C with Allen-Cunneen."""
    if servers < 1:
        raise CapplanError(f"--servers {servers}: must be an integer >= 1")
    holding_s = None
    if service is not None:
        from capplan.units import parse_duration_s

        holding_s = parse_duration_s(service)
        if holding_s == 0:
            raise CapplanError(f"--service {service!r}: must be > 0")
    if load is not None and rate is not None:
        raise CapplanError("give either --load or --rate with --service, not both")
    if load is not None:
        offered = _finite_non_negative("--load", load)
    elif rate is not None:
        if holding_s is None:
            raise CapplanError("--rate needs --service (the mean holding time)")
        offered = _finite_non_negative("--rate", rate) * holding_s
        if not math.isfinite(offered):
            raise CapplanError(f"--rate {rate!r} x --service {service!r}: load is not finite")
    else:
        raise CapplanError("missing the load: give --load A, or --rate L with --service S")
    _finite_non_negative("--service-scv", service_scv)
    if queue is not None and queue < 0:
        raise CapplanError(f"--queue {queue}: must be >= 0")
    if target_wait is not None and not 0 < target_wait < 1:
        raise CapplanError(f"--target-wait {target_wait!r}: must be a probability in (0, 1)")
    if target_wait is not None and target_wait < _MIN_TARGET:
        # The staffing guess evaluates the normal density at the target's quantile, which
        # underflows below this (Halfin-Whitt's beta of 1e-300 is 37).
        raise CapplanError(f"--target-wait {target_wait!r}: must be at least {_MIN_TARGET:g}")
    if offered > _MAX_LOAD:
        raise CapplanError(
            f"offered load {offered:g} Erlangs: capplan sizes up to {_MAX_LOAD:g} "
            "(server counts stay exact integers in binary64 below that)"
        )

    from capplan.queueing.metrics import queue_metrics

    metrics = queue_metrics(
        servers,
        offered,
        mean_holding_s=holding_s,
        holding_scv=service_scv,
        queue=queue,
        target_wait=target_wait,
    )
    match output_format:
        case OutputFormat.json:
            from capplan.render.json_out import dumps
            from capplan.render.queue import queue_document

            text = dumps(queue_document(metrics))
        case OutputFormat.table | OutputFormat.markdown:
            from capplan.render.queue import queue_table

            text = queue_table(metrics, markdown=output_format is OutputFormat.markdown)
        case _:  # the other formats are not among its --format choices
            raise not_offered(output_format, "queue")
    emit(text, output)
