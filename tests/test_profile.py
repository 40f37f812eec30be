"""Profile loading (format 1): values, defaults, locations, the JSON Schema and bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml
from scipy import stats

from capplan.cli import main
from capplan.errors import CapplanError
from capplan.profile import (
    MAX_PROFILE_BYTES,
    MaxWait,
    Memory,
    Targets,
    TrafficProfile,
    Visits,
    iter_fields,
    load_profile,
    profile_from_text,
    profile_json_schema,
    profile_json_schema_text,
)
from capplan.render.profile import profile_to_dict

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "profiles" / "bad"
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))

DESIGN_EXAMPLE = """\
version: 1
name: wordpress-peak
traffic:
  requests_per_second: 120        # peak request rate the server must carry
  service_time: 80ms              # mean worker time per request
  service_time_scv: 1.0
  worker_share: 1.0
visits:
  requests_per_visit: 10
  distribution: geometric
  think_time: 5s
  idle_hold_probability: 1.0
  linger: 0s
memory:
  ram: 8GiB
  parent: 20MiB
  shared: 100MiB
  prefork_process: 60MiB
  threaded_process: 25MiB
  thread: 1MiB
targets:
  max_wait_probability: 0.01
  max_wait: {time: 200ms, probability: 0.01}
  max_block_probability: 0.001
  max_connection_limit_probability: 0.001
  max_memory_fraction: 0.9
"""

MINIMAL = "traffic:\n  requests_per_second: 50\n  service_time: 0.1\n"


def test_design_example_loads_with_every_value() -> None:
    profile = profile_from_text(DESIGN_EXAMPLE, "peak.yaml")
    assert profile.name == "wordpress-peak"
    assert profile.traffic.requests_per_second == 120.0
    assert profile.traffic.service_time_s == pytest.approx(0.08, rel=1e-15)
    assert profile.traffic.service_time_scv == 1.0
    assert profile.visits == Visits(10.0, "geometric", 5.0, 1.0, 0.0)
    assert profile.memory == Memory(8 << 30, 20 << 20, 100 << 20, 60 << 20, 25 << 20, 1 << 20)
    assert profile.targets == Targets(0.01, MaxWait(0.2, 0.01), 0.001, 0.001, 0.9)


def test_minimal_profile_gets_documented_defaults() -> None:
    profile = profile_from_text(MINIMAL, "dir/shop-peak.yaml")
    assert profile.name == "shop-peak"
    assert profile.traffic.service_time_scv == 1.0
    assert profile.traffic.worker_share == 1.0
    assert profile.visits == Visits()
    assert profile.memory == Memory()
    assert profile.memory.ram_bytes is None
    assert profile.targets == Targets()


def test_locations_point_at_the_lines_written() -> None:
    profile = profile_from_text(DESIGN_EXAMPLE, "peak.yaml")
    location = profile.location_of("traffic.service_time")
    assert location is not None
    assert str(location) == "peak.yaml:5"
    assert str(profile.location_of("targets.max_wait.time")) == "peak.yaml:23"
    assert profile_from_text(MINIMAL, "m.yaml").location_of("visits.think_time") is None


@pytest.mark.parametrize(
    ("p50_s", "p95_s"),
    [
        pytest.param(0.05, 0.3, id="php-app"),
        pytest.param(0.002, 0.004, id="narrow"),
        pytest.param(0.1, 5.0, id="heavy-tail"),
    ],
)
def test_lognormal_fit_matches_scipy(p50_s: float, p95_s: float) -> None:
    text = (
        "traffic:\n  requests_per_second: 10\n"
        f"  service_time_p50: {p50_s}\n  service_time_p95: {p95_s}\n"
    )
    traffic = profile_from_text(text, "fit.yaml").traffic
    sigma = math.log(p95_s / p50_s) / stats.norm.ppf(0.95)
    dist = stats.lognorm(s=sigma, scale=p50_s)
    assert dist.ppf(0.5) == pytest.approx(p50_s, rel=1e-12)
    assert dist.ppf(0.95) == pytest.approx(p95_s, rel=1e-12)
    assert traffic.service_time_s == pytest.approx(dist.mean(), rel=1e-12)
    assert traffic.service_time_scv == pytest.approx(dist.var() / dist.mean() ** 2, rel=1e-10)
    assert (traffic.service_time_p50_s, traffic.service_time_p95_s) == (p50_s, p95_s)


@pytest.mark.parametrize(
    ("snippet", "attribute", "expected"),
    [
        pytest.param("targets:\n  max_wait: null\n", "max_wait", None, id="target-disabled"),
        pytest.param(
            "targets:\n  max_block_probability: 1e-3\n",
            "max_block_probability",
            1e-3,
            id="plain-exponent-is-a-number",
        ),
        pytest.param(
            "targets:\n  max_wait:\n    time: 1.5min\n",
            "max_wait",
            MaxWait(90.0, 0.01),
            id="partial-object-filled",
        ),
        pytest.param("targets:\n", "max_wait_probability", 0.01, id="empty-section"),
    ],
)
def test_targets_forms(snippet: str, attribute: str, expected: object) -> None:
    targets = profile_from_text(MINIMAL + snippet, "t.yaml").targets
    assert getattr(targets, attribute) == expected


def test_profile_to_dict_round_trips_through_yaml() -> None:
    profile = profile_from_text(DESIGN_EXAMPLE, "peak.yaml")
    data = profile_to_dict(profile)
    assert json.loads(json.dumps(data)) == data
    assert data["memory"]["ram"] == 8 << 30
    assert data["visits"]["think_time"] == 5.0
    del data["traffic"]["service_time_p50"], data["traffic"]["service_time_p95"]
    again = profile_from_text(yaml.safe_dump(data), "peak.yaml")
    assert (again.traffic, again.visits, again.memory, again.targets) == (
        profile.traffic,
        profile.visits,
        profile.memory,
        profile.targets,
    )


def test_schema_is_valid_and_accepts_what_the_loader_accepts() -> None:
    schema = profile_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for text in (DESIGN_EXAMPLE, MINIMAL, *(path.read_text() for path in SHIPPED)):
        validator.validate(yaml.safe_load(text))
    assert json.loads(profile_json_schema_text()) == schema


@pytest.mark.parametrize(
    "name",
    [
        "wrong-type",
        "negative-rate",
        "unknown-key",
        "probability-above-one",
        "bad-version",
        "missing-rate",
        "unit-garbage",
        "size-decimal-unit",
        "boolean-probability",
    ],
)
def test_schema_rejects_what_the_loader_rejects(name: str) -> None:
    data = yaml.safe_load((BAD / f"{name}.yaml").read_text())
    assert not jsonschema.Draft202012Validator(profile_json_schema()).is_valid(data)


def test_every_key_is_documented() -> None:
    doc = (ROOT / "docs" / "profile.md").read_text()
    missing = [dotted for dotted, _ in iter_fields() if f"`{dotted}`" not in doc]
    assert missing == []


# The first line of each error: `file:line: message` (one file per failure mode).
BAD_CASES = {
    "wrong-type": "4: traffic.requests_per_second: expected a number, got the text 'lots'",
    "negative-rate": "4: traffic.requests_per_second: must be greater than 0, got -120",
    "unknown-key": "7: unknown key 'visits.think_tim'; did you mean 'think_time'?",
    "p95-below-p50": "6: traffic.service_time_p95 (0.05 s) must be greater than "
    "service_time_p50 (0.3 s)",
    "unit-garbage": "5: traffic.service_time: invalid duration '80 parsecs': unknown unit "
    "'parsecs' (use ms, s, min, h)",
    "yaml-bomb": "7: the YAML expands to more than 10000 nodes through aliases (an alias bomb?)",
    "tag-injection": "5: YAML tags are not allowed in a profile "
    "(found !!python/object/apply:os.system)",
    "bad-version": "2: version: 2 is not one of: 1",
    "probability-above-one": "7: targets.max_block_probability: a probability in [0, 1] is "
    "expected, got 1.5",
    "duplicate-key": "6: duplicate key 'traffic.requests_per_second' (first given on line 4)",
    "mean-and-percentiles": "5: traffic.service_time: give either service_time (with "
    "service_time_scv) or service_time_p50 and service_time_p95, not both",
    "missing-rate": "4: missing required key 'traffic.requests_per_second'",
    "syntax-error": "4: invalid YAML: expected ',' or '}', but got ':'",
    "fixed-fraction": "8: visits.requests_per_visit: a fixed distribution needs a whole number, "
    "got 2.5",
    "size-decimal-unit": "7: memory.ram: invalid size '8000MB': unknown unit 'MB' (use B, K, KiB, "
    "M, MiB, G, GiB, T, TiB) (decimal kB/MB/GB are not accepted: write "
    "KiB/MiB/GiB)",
    "boolean-probability": "7: visits.idle_hold_probability: expected a number, got a boolean "
    "(true)",
}


def test_every_bad_file_has_a_case() -> None:
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(BAD_CASES)


@pytest.mark.parametrize(("name", "first_line"), BAD_CASES.items(), ids=list(BAD_CASES))
def test_bad_profiles(name: str, first_line: str) -> None:
    path = BAD / f"{name}.yaml"
    with pytest.raises(CapplanError) as caught:
        load_profile(path)
    rendered = caught.value.render().splitlines()
    assert rendered[0] == f"{path}:{first_line}"
    line_no = int(first_line.split(":", maxsplit=1)[0])
    assert rendered[1].strip() == path.read_text().splitlines()[line_no - 1].strip()
    assert rendered[2].strip() == "^"
    assert "Traceback" not in caught.value.render()


def test_tag_injection_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = (
        "traffic:\n  requests_per_second: 1\n"
        f"  service_time: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(CapplanError, match="YAML tags are not allowed"):
        profile_from_text(text, "evil.yaml")
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!str", "!!float", "!custom", "!"])
def test_every_explicit_tag_is_refused(tag: str) -> None:
    with pytest.raises(CapplanError, match="YAML tags are not allowed"):
        profile_from_text(f"traffic:\n  requests_per_second: {tag} 5\n  service_time: 1\n", "t")


def test_fifty_megabyte_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as fh:
        fh.write(MINIMAL)
        chunk = "# padding " + "x" * 1013 + "\n"
        for _ in range(50 * 1024):
            fh.write(chunk)
    with pytest.raises(CapplanError) as caught:
        load_profile(path)
    limit_mib = MAX_PROFILE_BYTES >> 20
    assert caught.value.render() == (
        f"{path}: the profile is larger than {limit_mib} MiB; is this the right file?"
    )


def test_alias_bomb_fails_fast() -> None:
    import time

    text = (BAD / "yaml-bomb.yaml").read_text()
    start = time.perf_counter()
    with pytest.raises(CapplanError, match="alias bomb"):
        profile_from_text(text, "bomb.yaml")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the profile is empty", id="empty"),
        pytest.param("- 1\n- 2\n", "the profile: expected a mapping", id="top-level-list"),
        pytest.param("a: &a [*a]\n", "recursive structure", id="recursive-alias"),
        pytest.param("traffic: " + "[" * 30 + "]" * 30 + "\n", "nested more than", id="deep"),
        pytest.param(
            "traffic:\n  requests_per_second: .nan\n  service_time: 1\n",
            "must be a finite number",
            id="nan",
        ),
        pytest.param(
            "traffic:\n  requests_per_second: [1]\n  service_time: 1\n",
            "expected a single value, got a list",
            id="list-for-number",
        ),
        pytest.param(
            "traffic:\n  requests_per_second: 1\n  service_time_p50: 1\n",
            "lognormal fit needs both",
            id="p50-alone",
        ),
        pytest.param("traffic:\n  requests_per_second: 1\n", "service_time", id="no-service"),
        pytest.param("---\na: 1\n---\nb: 2\n", "expected a single document", id="two-docs"),
        pytest.param(
            MINIMAL + "visits:\n  distribution: geometrc\n",
            "did you mean 'geometric'",
            id="choice-typo",
        ),
        pytest.param(MINIMAL + "memory:\n  thread: null\n", "null is not allowed", id="null-size"),
        pytest.param(
            "traffic:\n  requests_per_second: 1e9\n  service_time: 1\n",
            r"requests_per_second: must be at most 1e\+08, got 1e\+09",
            id="huge-rate",
        ),
        pytest.param(
            MINIMAL + "visits:\n  linger: 1min\n",
            "must be at most 30 s, got 60 s",
            id="long-linger",
        ),
        pytest.param(
            MINIMAL + "traffic:\n  worker_share: 1.5\n",
            "duplicate key 'traffic'",
            id="duplicate-section",
        ),
        pytest.param(
            MINIMAL + "visits:\n  distribution: fixed\n  requests_per_visit: 500\n",
            "allows at most 100 requests per visit",
            id="long-fixed-visit",
        ),
        pytest.param(
            MINIMAL + "visits:\n  connect_attempts: 2.5\n",
            r"visits.connect_attempts: expected a whole number, got 2.5",
            id="fractional-attempts",
        ),
        pytest.param(
            MINIMAL + "visits:\n  connect_attempts: 0\n",
            "visits.connect_attempts: must be at least 1, got 0",
            id="no-attempts",
        ),
        pytest.param(
            MINIMAL + "visits:\n  connect_attempts: true\n",
            "visits.connect_attempts: expected a whole number, got True",
            id="boolean-attempts",
        ),
    ],
)
def test_more_bad_texts(text: str, message: str) -> None:
    with pytest.raises(CapplanError, match=message):
        profile_from_text(text, "bad.yaml")


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(CapplanError, match="cannot read the profile"):
        load_profile(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(MINIMAL.encode() + b"name: caf\xe9\n")
    with pytest.raises(CapplanError, match=r"latin\.yaml:4: the profile is not UTF-8"):
        load_profile(latin)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert isinstance(profile, TrafficProfile)
    assert profile.name == path.stem
    assert profile.memory.ram_bytes is not None


def test_at_least_six_shipped_profiles() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "static-site",
        "wordpress-prefork",
        "php-fpm-event",
        "json-api-lb",
        "browser-heavy",
        "seasonal-peak",
    }


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == profile_json_schema()


def test_schema_command_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "profile.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text()) == profile_json_schema()


def test_connect_attempts_default_to_linux_and_can_be_set() -> None:
    assert profile_from_text(MINIMAL, "m.yaml").visits.connect_attempts == 7
    windows = profile_from_text(MINIMAL + "visits:\n  connect_attempts: 3\n", "w.yaml")
    assert windows.visits.connect_attempts == 3


# --- php: the PHP-FPM side -------------------------------------------------------------------

PHP_BASE = "traffic: {requests_per_second: 100, service_time: 100ms, service_time_scv: 2}\n"


def test_no_php_section_means_no_php() -> None:
    profile = profile_from_text(PHP_BASE, "p.yaml")
    assert profile.php is None
    assert "php" not in profile_to_dict(profile)


@pytest.mark.parametrize("section", ["php: {}", "php:"], ids=["empty-mapping", "null"])
def test_empty_php_section_takes_every_default(section: str) -> None:
    profile = profile_from_text(PHP_BASE + section + "\n", "p.yaml")
    php = profile.php
    assert php is not None
    assert (php.share, php.process_bytes, php.shared_bytes) == (1.0, 64 << 20, 128 << 20)
    assert php.service_s(profile.traffic) == pytest.approx(0.1)
    assert php.scv(profile.traffic) == 2.0
    assert profile_to_dict(profile)["php"]["share"] == 1.0


def test_php_values_and_locations() -> None:
    profile = profile_from_text(
        PHP_BASE + "php:\n  share: 0.4\n  service_time: 200ms\n  process: 48MiB\n", "p.yaml"
    )
    php = profile.php
    assert php is not None
    assert (php.share, php.service_time_s, php.process_bytes) == (0.4, 0.2, 48 << 20)
    location = profile.location_of("php.service_time")
    assert location is not None
    assert location.line == 4


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "php: {share: 0.6, service_time: 200ms}",
            "p.yaml:2: php: share × service_time = 0.12 s exceeds traffic.service_time (0.1 s)",
        ),
        ("php: {share: 1.5}", "p.yaml:2: php.share: a probability in [0, 1] is expected, got 1.5"),
        ("php: {process: lots}", "p.yaml:2: php.process: invalid size 'lots'"),
        ("php: {sahre: 0.5}", "p.yaml:2: unknown key 'php.sahre'; did you mean 'share'?"),
        ("php: {service_time: 0s}", "p.yaml:2: php.service_time: must be greater than 0, got 0"),
    ],
    ids=["php-longer-than-worker-time", "share", "size", "typo", "zero-time"],
)
def test_bad_php_sections(section: str, message: str) -> None:
    with pytest.raises(CapplanError) as caught:
        profile_from_text(PHP_BASE + section + "\n", "p.yaml")
    assert caught.value.render().splitlines()[0].startswith(message)


def test_schema_has_the_php_section() -> None:
    php = profile_json_schema()["properties"]["php"]
    assert set(php["properties"]) == {
        "share",
        "service_time",
        "service_time_scv",
        "process",
        "shared",
    }
    jsonschema.validate(
        {"traffic": {"requests_per_second": 1, "service_time": 1}, "php": {}}, profile_json_schema()
    )


def test_written_out_z95_is_the_normal_quantile() -> None:
    from statistics import NormalDist

    from capplan.profile import _Z95

    assert NormalDist().inv_cdf(0.95) == _Z95
