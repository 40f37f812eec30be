"""JSON renderer of reports: `Report` / `Comparison` → the design's schema_version 1 document.

Input: frozen reports from `capplan.advice`. Output: plain dicts (validated in the tests against
the shipped `report_schema.json`) and JSON text. Infinite values become null (an unstable system
also carries `stable: false`); NaN never reaches the output (`dumps` refuses it).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from capplan.advice import Recommendation, Report, Verdict
from capplan.compare import Comparison
from capplan.models import TargetResult
from capplan.recommend import Change, MpmOption
from capplan.render.json_out import SCHEMA_VERSION, config_to_dict, dumps
from capplan.render.metrics import metrics_to_dict
from capplan.render.profile import profile_to_dict
from capplan.render.words import fix_message, report_reasons


def finite(value: float | None) -> float | None:
    """null for infinity (and for a NaN, which would be a bug upstream)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def target_to_dict(target: TargetResult) -> dict[str, Any]:
    return {
        "target": target.target,
        "limit": target.limit,
        "value": finite(target.value),
        "met": target.met,
    }


def option_to_dict(option: MpmOption) -> dict[str, Any]:
    from capplan.snippet import all_directives

    shown = option.best if option.best is not None else option.limit
    return {
        "mpm": option.mpm,
        "feasible": option.feasible,
        "directives": dict(all_directives(shown.settings)) if shown is not None else {},
        "metrics": metrics_to_dict(shown.metrics) if shown is not None else None,
        "targets": [target_to_dict(t) for t in shown.targets] if shown is not None else [],
        "max_rate_per_s": finite(option.max_rate_per_s),
        "changes": [change_to_dict(c) for c in option.changes],
    }


def change_to_dict(change: Change) -> dict[str, str]:
    return {"directive": change.directive, "old": change.old, "new": change.new}


def _http2_sizing(recommendation: Recommendation) -> dict[str, Any]:
    """`recommendation.http2` in the JSON report."""
    sizing = recommendation.http2
    assert sizing is not None
    return {
        "active": sizing.active,
        "h2_min_workers": sizing.min_workers,
        "h2_max_workers": sizing.max_workers,
        "h2_max_workers_needed": sizing.needed,
        "h2_workers_busy_per_child": sizing.busy_per_child,
        "stream_wait_probability": sizing.stream_wait_probability,
        "directives": dict(sizing.directives),
        "warnings": list(sizing.warnings),
    }


def recommendation_to_dict(report: Report, recommendation: Recommendation) -> dict[str, Any]:
    """An empty `directives` means "keep the current settings" (`action` says so too)."""
    where = recommendation.placement
    return {
        "action": recommendation.action,
        "mpm": recommendation.mpm,
        "meets_targets": recommendation.meets_targets,
        "directives": dict(recommendation.directives),
        "snippet": recommendation.snippet,
        "reasons": report_reasons(report),
        "changes": [change_to_dict(c) for c in recommendation.changes],
        "max_rate_per_s": finite(recommendation.max_rate_per_s),
        "saving_bytes": recommendation.saving_bytes,
        "placement": None
        if where is None
        else {
            "file": where.snippet_file,
            "steps": list(where.steps),
            "commands": list(where.commands),
        },
        "options": {o.mpm: option_to_dict(o) for o in recommendation.options},
        **({"http2": _http2_sizing(recommendation)} if recommendation.http2 is not None else {}),
    }


def verdict_to_dict(report: Report, verdict: Verdict) -> dict[str, Any]:
    targets = report.current.targets if report.current is not None else ()
    return {
        "ok": verdict.ok,
        "violations": [
            {"target": v.target, "limit": v.limit, "value": finite(v.value)}
            for v in verdict.violations
        ],
        "targets": [target_to_dict(t) for t in targets],
        "max_rate_per_s": finite(report.current_max_rate_per_s),
        "fixes": [
            {
                "target": f.targets[0] if f.targets else None,
                "targets": list(f.targets),
                "directive": f.directive,
                "location": str(f.location),
                "default": f.is_default,
                "old": f.old,
                "new": f.new,
                "message": fix_message(f),
            }
            for f in report.fixes
        ],
        "fix_check": _fix_check(report),
    }


def _fix_check(report: Report) -> dict[str, Any] | None:
    """`check --event-model chain`: the fixed settings' targets by the chain, at the fix's rate."""
    check = report.fix_check
    if check is None:
        return None
    return {
        "model": "chain",
        "rate_per_s": check.metrics.profile.traffic.requests_per_second,
        "ok": check.queue_ok,
        "targets": [target_to_dict(t) for t in check.targets],
    }


def error_log_to_dict(report: Report) -> dict[str, Any] | None:
    """`recommend --error-log`: the messages counted and the sentences the reasons cite."""
    if report.error_log is None:
        return None
    from capplan.render.errorlog import evidence_document
    from capplan.render.words import error_log_reasons

    mpm = report.config.mpm if report.config is not None else None
    return {**evidence_document(report.error_log, mpm), "citations": error_log_reasons(report)}


def report_to_dict(report: Report) -> dict[str, Any]:
    """The design's report: schema_version, config, profile, mpms, recommendation, verdict
    (and `php_fpm` when PHP-FPM is modelled)."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "command": report.command,
        "config": config_to_dict(report.config) if report.config is not None else None,
        "profile": profile_to_dict(report.profile),
        "mpms": {name: metrics_to_dict(metrics) for name, metrics in report.mpms},
        "recommendation": recommendation_to_dict(report, report.recommendation)
        if report.recommendation is not None
        else None,
        "verdict": verdict_to_dict(report, report.verdict),
        "headroom": {
            "fraction": report.headroom,
            "rate_per_s": report.sizing_rate_per_s,
        },
        "sources": dict(report.sources),
        "error_log": error_log_to_dict(report),
        "substitutions": [
            {
                "key": s.key,
                "value": s.value,
                "replaced": s.replaced,
                "pid": s.pid,
                "origin": s.origin,
            }
            for s in report.substitutions
        ],
    }
    if report.php_fpm is not None:
        from capplan.render.fpm import fpm_report_to_dict, recommendation_fpm_dict

        out["php_fpm"] = fpm_report_to_dict(report.php_fpm)
        if isinstance(out["recommendation"], dict):
            out["recommendation"].update(recommendation_fpm_dict(report.php_fpm))
    return out


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "compare",
        "columns": [
            {
                "profile": c.profile.name,
                "profile_path": c.profile_path,
                "config": c.config.path,
                "mpm": c.config.mpm,
                "metrics": metrics_to_dict(c.assessment.metrics),
                "targets": [target_to_dict(t) for t in c.assessment.targets],
            }
            for c in comparison.columns
        ],
        "rows": [
            {
                "name": row.name,
                "values": [finite(v) if isinstance(v, float) else v for v in row.values],
                "better": row.better,
                "winners": list(row.winners),
                "met": list(row.met),
                "limits": list(row.limits),
            }
            for row in comparison.rows
        ],
    }


def render_report_json(report: Report) -> str:
    return dumps(report_to_dict(report))


def render_comparison_json(comparison: Comparison) -> str:
    return dumps(comparison_to_dict(comparison))


def report_schema() -> dict[str, Any]:
    """The shipped JSON Schema of these documents (`capplan/render/report_schema.json`)."""
    text = resources.files("capplan.render").joinpath("report_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
