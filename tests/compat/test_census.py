"""The real-world usage census: what public code does with the official client, on both clients.

Each pattern found in public code that uses the official ``fal-client`` (the table with the
counts is in ``docs/migration.md``, "Real-world usage census") is a case in
``census_cases.py``: a function that does what that code does and returns an observation. Here
each case runs

* against THIS package, in-process: sync, and async on asyncio and trio (the ``anyio_backend``
  fixture), and
* against the OFFICIAL client, once for the whole module: one subprocess in its throwaway venv
  (``benchmarks/_official.py``) runs every case and prints one JSON object.

Each test first checks what the issue requires of this package, then compares with the
official observation (skipped, saying why, only when the official client cannot be installed).
A difference shows as a failure; a deliberate one is an assertion that says so.

Two emulators serve both clients: ``emu1`` (where the environment points) and ``emu2`` (for
redirection and "the notebook started a second emulator"); their apps say which one answered.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import anyio
import pytest

import fal_client
from benchmarks._official import (
    OFFICIAL_VERSION,
    OfficialClientUnavailable,
    ensure_official_venv,
    official_command,
    official_env,
)
from fal_client.testing import AppContext, AppError, Emulator, Gate

from . import census_cases as cases

CASES_FILE = Path(__file__).with_name("census_cases.py")
# Seconds for the one official subprocess (about 6 s here); below pytest-timeout's 60 s so a
# hang is reported as such, with the subprocess's output.
OFFICIAL_TIMEOUT = 45.0
# A job that takes minutes must work with run()'s defaults: the official client applies no
# client-side deadline at all and fal documents none for direct runs, so a job of just under an
# hour must complete (a finite default of an hour or more passes).
LONG_JOB_SECONDS = 3599.0

VALIDATION_DETAIL = [
    {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
]
POLICY_DETAIL = [
    {
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged by a "
        "content checker.",
        "type": "content_policy_violation",
        "url": "https://docs.fal.ai/errors#content_policy_violation",
    }
]
LOCKED_DETAIL = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard."
)


def register_apps(emu: Emulator, marker: str, gates: dict[str, Gate]) -> None:
    @emu.app("census/echo", workers=8)
    async def echo(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        return {"server": marker, "received": arguments, "request_id": ctx.request_id}

    @emu.app("census/steps", workers=4)
    async def steps(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        n = int(arguments["n"])
        for i in range(n):
            ctx.log(f"step {i}")
            # Simulated work, so that pollers and status streams see the logs grow; no test
            # outcome depends on how many intermediate statuses they see.
            await anyio.sleep(0.03)
        return {"steps": n}

    @emu.app("census/invalid", workers=4)
    async def invalid(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise AppError(422, detail=VALIDATION_DETAIL)

    @emu.app("census/flagged", workers=4)
    async def flagged(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise AppError(422, detail=POLICY_DETAIL)

    @emu.app("census/locked", workers=4)
    async def locked(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise AppError(403, detail=LOCKED_DETAIL)

    @emu.app("census/hold", workers=4)
    async def hold(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        await anyio.sleep(60)  # only ever ends by being cancelled
        return {"released": True}

    @emu.app("census/gated", workers=4)
    async def gated(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        await gates[arguments["gate"]].wait()
        return {"server": marker, "released": True}

    @emu.app("census/stream", workers=4)
    async def stream(arguments: dict[str, Any], ctx: AppContext) -> AsyncIterator[dict[str, Any]]:
        for i in range(int(arguments["n"])):
            yield {"token": i}
        yield {"done": True, "server": marker}

    @emu.app("workflows/census/flow", workers=4)
    async def flow(arguments: dict[str, Any], ctx: AppContext) -> AsyncIterator[dict[str, Any]]:
        for i in range(int(arguments["n"])):
            yield {"step": i}
        yield {"done": True}


@dataclass
class Census:
    """The two emulators, the context the cases get, and how to run a case on this package."""

    primary: Emulator
    secondary: Emulator
    ctx: dict[str, Any]
    gates: dict[str, Gate]

    def sync(self, name: str) -> Any:
        ctx = dict(self.ctx)
        try:
            return cases.SYNC[name](fal_client, ctx)
        finally:
            cases.close_opened_sync(ctx)

    async def async_(self, name: str) -> Any:
        ctx = dict(self.ctx)
        try:
            return await cases.ASYNC[name](fal_client, ctx)
        finally:
            await cases.close_opened(ctx)

    def new_gate(self) -> str:
        name = f"gate-{len(self.gates)}"
        self.gates[name] = self.primary.gate()
        return name

    def requests(self, which: Optional[Emulator] = None) -> list[Any]:
        return list((which or self.primary).requests())


@dataclass
class Official:
    """The official client's observations (one subprocess), or why there are none."""

    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    unavailable: Optional[str] = None

    def ref(self, name: str, mode: str) -> Callable[[], Any]:
        """A thunk: the observation, or a skip when the official client is not installed.

        Tests call it only after checking this package, so those checks run regardless.
        """

        def get() -> Any:
            if self.unavailable is not None:
                pytest.skip(self.unavailable)
            observation = self.cases[name][mode]
            assert not (isinstance(observation, dict) and "__error__" in observation), (
                f"the official client failed the {name!r} case ({mode}): {observation['__error__']}"
            )
            return observation

        return get


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Census]:
    gates: dict[str, Gate] = {}
    primary = Emulator(builtin_apps=False)
    secondary = Emulator(builtin_apps=False)
    register_apps(primary, "emu1", gates)
    register_apps(secondary, "emu2", gates)
    tmp = tmp_path_factory.mktemp("census")
    empty_home = tmp / "fal-home"  # no `fal auth login` token file in here
    empty_home.mkdir()
    with primary, secondary:
        ctx = {
            "key": primary.key,
            "primary": {**primary.env, "root": primary.url},
            "secondary": {**secondary.env, "root": secondary.url},
            "tmp": str(tmp),
            "empty_home": str(empty_home),
        }
        yield Census(primary, secondary, ctx, gates)
        for gate in gates.values():
            gate.open()


@pytest.fixture(scope="module")
def official(census: Census) -> Official:
    """Every case on the official client, in one subprocess of its venv."""
    try:
        ensure_official_venv()
    except OfficialClientUnavailable as exc:
        return Official(unavailable=f"official fal-client=={OFFICIAL_VERSION}: {exc}")
    cmd = official_command(CASES_FILE, [json.dumps(census.ctx)])
    env = official_env(census.primary.env, FAL_HOME_DIR=census.ctx["empty_home"])
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=OFFICIAL_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the official census run hung for {OFFICIAL_TIMEOUT}s:\n{exc.stderr}")
    assert proc.returncode == 0, f"official census run failed:\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["official_version"] == OFFICIAL_VERSION
    requests = census.requests()
    census.primary.reset()
    census.secondary.reset()
    return Official(cases=out["cases"], requests=requests)


@pytest.fixture(autouse=True)
def ours(census: Census, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This package's environment: FAL_* at emu1, no other credentials, fresh default clients."""
    for name, value in census.primary.env.items():
        monkeypatch.setenv(name, value)
    for name in ("FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_RUN_HOST", "FAL_QUEUE_RUN_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FAL_FORCE_AUTH_BY_USER", raising=False)
    monkeypatch.setenv("FAL_HOME_DIR", census.ctx["empty_home"])
    census.primary.reset()
    census.secondary.reset()
    reset_default_clients()
    yield
    reset_default_clients()


def reset_default_clients() -> None:
    # What the ``fal_emulator`` pytest plugin does; tests of the environment-following
    # behaviour itself never call it between their steps.
    from fal_client import _defaults

    reset = getattr(_defaults, "reset_default_clients", None)
    if reset is not None:
        reset()


def requests_for(records: list[Any], request_id: str, operation: str) -> list[Any]:
    return [r for r in records if r.request_id == request_id and r.operation == operation]


# --- module paths and names ----------------------------------------------------------------------


def test_client_module_names(census: Census, official: Official) -> None:
    """``import fal_client.client`` and ``from fal_client.client import X`` for every name the
    issue lists, each the same object as the top-level name."""
    ours = census.sync("client_module")
    assert ours["module_name"] == "fal_client.client"
    assert ours["attribute_is_module"]
    assert [n for n, ok in ours["importable"].items() if not ok] == []
    assert [n for n, same in ours["same_object_as_top_level"].items() if not same] == []
    assert all(ours["url_constants_are_str"].values()), ours["url_constants_are_str"]
    ref = official.ref("client_module", "sync")()
    assert ours["importable"] == ref["importable"]
    # Names the official package has at the top level are the same objects here; this package
    # exports a few more at the top level (AppId), which the official does not.
    same = ours["same_object_as_top_level"]
    assert {name: same[name] for name in ref["same_object_as_top_level"]} == ref[
        "same_object_as_top_level"
    ]


OMITTED_OFFICIAL_NAMES = {
    "AsyncBackupDomainTransport": "1.0.3's fallback to falrun.com, an httpx transport of its own",
    "BackupDomainTransport": "the same, sync",
    "CDNTokenManager": "wraps the official httpx client; uploads here manage their own tokens",
    "AsyncCDNTokenManager": "the same, async",
    "MultipartUpload": "built on the official httpx client; upload() goes multipart by itself",
    "AsyncMultipartUpload": "the same, async",
    "EXECUTOR": "the official sync client's thread pool; this one has a portal thread",
    "QUEUE_POLL_TIMEOUT": "an httpx.Timeout of the official polling; see default_timeout",
}


def test_client_module_every_official_public_name(census: Census, official: Official) -> None:
    """Every other public name of the official ``client.py`` (helpers such as
    ``add_hint_header`` are reached through it by real code)."""
    import fal_client.client as ours_module

    ref = official.ref("client_module", "sync")()
    missing = sorted(name for name in ref["public_names"] if not hasattr(ours_module, name))
    # Deliberate omissions (docs/migration.md): machinery of the official implementation,
    # built on its private httpx clients, with no meaning over this client's engine.
    assert missing == sorted(OMITTED_OFFICIAL_NAMES), (
        f"fal_client.client lacks official public names not listed as omitted: "
        f"{sorted(set(missing) - set(OMITTED_OFFICIAL_NAMES))}"
    )


def test_client_attribute_without_import(census: Census, official: Official) -> None:
    """``import fal_client`` then ``fal_client.client.X`` in a fresh interpreter."""
    ours = census.sync("client_attribute_without_import")
    assert ours == {"ok": True, "module": "fal_client.client", "same_sync_client": True}
    assert ours == official.ref("client_attribute_without_import", "sync")()


def test_auth_module(census: Census, official: Official) -> None:
    ours = census.sync("auth_module")
    assert ours["hosts_are_str"] == [True, True]
    assert ours["raised_is_auth_class"] is True, "a call without a key must raise this class"
    assert ours["missing_is_exception"] and ours["fetch_credentials_is_env_key"]
    assert ours == official.ref("auth_module", "sync")()


def test_top_level_names(census: Census, official: Official) -> None:
    """Every name the official ``__init__`` exports or binds (``ObjectExpiration``,
    ``StorageACLDecision``, ``sync_client``, ``ws_connect``...)."""
    ours = set(census.sync("top_level_names")["names"])
    missing = sorted(set(official.ref("top_level_names", "sync")()["names"]) - ours)
    assert missing == [], f"fal_client lacks these official names: {missing}"


def test_appid_from_endpoint_id(census: Census, official: Official) -> None:
    ours = census.sync("appid_from_endpoint_id")
    assert ours["fal-ai/flux/dev"] == ["fal-ai", "flux", "dev", None]
    assert ours["workflows/fal-ai/sdxl-sticker"] == ["fal-ai", "sdxl-sticker", None, "workflows"]
    ref = official.ref("appid_from_endpoint_id", "sync")()
    assert ours["invalid"].startswith("ValueError") and ref["invalid"].startswith("ValueError")
    assert {k: v for k, v in ours.items() if k != "invalid"} == {
        k: v for k, v in ref.items() if k != "invalid"
    }


# --- default clients and the environment ---------------------------------------------------------


def check_default_clients(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert ours["run"] == ours["queue"] == "emu1"
    assert ours["status"] == "Completed"
    assert ours == ref()


def test_default_clients(census: Census, official: Official) -> None:
    """``fal_client.sync_client`` is a ``SyncClient`` that works."""
    check_default_clients(census.sync("default_clients"), official.ref("default_clients", "sync"))


@pytest.mark.anyio
async def test_default_clients_async(census: Census, official: Official) -> None:
    ours = await census.async_("default_clients")
    check_default_clients(ours, official.ref("default_clients", "async"))


def check_url_constants(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    # The environment points at emu1: anything that ignores the assignment lands there.
    assert ours == {"run": "emu2", "queue": "emu2", "upload": "emu2"}
    assert ours == ref()


def test_url_constants_redirect_new_clients(census: Census, official: Official) -> None:
    """Assigning ``fal_client.client.RUN_URL_FORMAT``/``QUEUE_URL_FORMAT``/``REST_URL``/
    ``CDN_URL`` points a client created afterwards there (proxies and tests do this)."""
    check_url_constants(census.sync("url_constants"), official.ref("url_constants", "sync"))


@pytest.mark.anyio
async def test_url_constants_redirect_new_clients_async(census: Census, official: Official) -> None:
    ours = await census.async_("url_constants")
    check_url_constants(ours, official.ref("url_constants", "async"))


def check_missing_key_then_set(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert ours["first"] != "no error", "a call without any credentials did not fail"
    assert ours["first"]["is_auth_missing"], ours["first"]
    assert ours["first"]["mentions_fal_key"], ours["first"]
    assert ours["second"] == "emu1", "setting FAL_KEY after the error did not take effect"
    official_obs = ref()
    assert official_obs["second"] == ours["second"]
    assert official_obs["first"]["is_auth_missing"] and official_obs["first"]["mentions_fal_key"]


def test_missing_key_then_set(census: Census, official: Official) -> None:
    """Calling before ``FAL_KEY`` is set raises ``MissingCredentialsError``; setting it and
    calling again works (module-level functions)."""
    check_missing_key_then_set(
        census.sync("missing_key_then_set"), official.ref("missing_key_then_set", "sync")
    )


@pytest.mark.anyio
async def test_missing_key_then_set_async(census: Census, official: Official) -> None:
    ours = await census.async_("missing_key_then_set")
    check_missing_key_then_set(ours, official.ref("missing_key_then_set", "async"))


def check_defaults_follow_env(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert ours == {"before": "emu1", "after": "emu2", "queue_after": "emu2"}, (
        "the default clients did not follow the changed FAL_* environment"
    )
    # Deliberate difference: the official default clients read their hosts once, at import,
    # so a notebook's second emulator is never reached.
    assert ref() == {"before": "emu1", "after": "emu1", "queue_after": "emu1"}


def test_default_clients_follow_the_environment(census: Census, official: Official) -> None:
    check_defaults_follow_env(
        census.sync("defaults_follow_env"), official.ref("defaults_follow_env", "sync")
    )


@pytest.mark.anyio
async def test_default_clients_follow_the_environment_async(
    census: Census, official: Official
) -> None:
    ours = await census.async_("defaults_follow_env")
    check_defaults_follow_env(ours, official.ref("defaults_follow_env", "async"))


def test_module_api_key_assignment_is_harmless(census: Census, official: Official) -> None:
    """``fal_client.api_key = ...`` is common and does nothing in the official client."""
    ours = census.sync("module_api_key_assignment")
    assert ours == {"run": "emu1"}
    assert ours == official.ref("module_api_key_assignment", "sync")()


# --- clients and handles -------------------------------------------------------------------------


def test_client_key_and_default_timeout(census: Census, official: Official) -> None:
    ours = census.sync("client_attributes")
    assert ours["sync_key"] == "census-key" and ours["sync_default_timeout"] == 7.5
    assert ours["async_key"] == "census-async-key"
    assert ours["positional"] == 9.0
    assert ours["key_when_not_given"] is None
    assert ours == official.ref("client_attributes", "sync")()


def check_get_handle(ours: Mapping[str, Any], ref: Callable[[], Any], handle_type: str) -> None:
    assert ours == {"type": handle_type, "same_id": True, "result": "emu1"}
    assert ours == ref()


def test_get_handle(census: Census, official: Official) -> None:
    check_get_handle(
        census.sync("get_handle"), official.ref("get_handle", "sync"), "SyncRequestHandle"
    )


@pytest.mark.anyio
async def test_get_handle_is_awaitable(census: Census, official: Official) -> None:
    """``await client.get_handle(app, request_id)``: a coroutine in the official AsyncClient."""
    ours = await census.async_("get_handle")
    check_get_handle(ours, official.ref("get_handle", "async"), "AsyncRequestHandle")


def check_handles(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert [name for name, ok in ours.items() if not ok] == []
    assert ours == ref()


def test_handles_of_one_request_are_equal(census: Census, official: Official) -> None:
    """Equal and equally hashed handles; URLs naming app and request (metering code reads the
    app from ``response_url``)."""
    check_handles(census.sync("handles"), official.ref("handles", "sync"))


@pytest.mark.anyio
async def test_handles_of_one_request_are_equal_async(census: Census, official: Official) -> None:
    check_handles(await census.async_("handles"), official.ref("handles", "async"))


def check_status_by_id(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert ours == {"result": {"k": "v"}, "status": "Completed"}
    assert ours == ref()


def test_status_and_result_by_keyword_request_id(census: Census, official: Official) -> None:
    check_status_by_id(census.sync("status_by_id"), official.ref("status_by_id", "sync"))


@pytest.mark.anyio
async def test_status_and_result_by_keyword_request_id_async(
    census: Census, official: Official
) -> None:
    check_status_by_id(await census.async_("status_by_id"), official.ref("status_by_id", "async"))


def check_handle_from_request_id(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    # Built from the private ``sync_client._client``: either it works as in the official
    # client, or it fails loudly and names the supported way (never a half-working handle).
    if ours["outcome"] == "error":
        assert "get_handle" in ours["error"], ours["error"]
    else:
        assert ours == ref()
    assert ref() == {"outcome": "ok", "result": "emu1"}


def test_handle_from_request_id_with_private_client(census: Census, official: Official) -> None:
    check_handle_from_request_id(
        census.sync("handle_from_request_id"), official.ref("handle_from_request_id", "sync")
    )


@pytest.mark.anyio
async def test_handle_from_request_id_with_private_client_async(
    census: Census, official: Official
) -> None:
    ours = await census.async_("handle_from_request_id")
    check_handle_from_request_id(ours, official.ref("handle_from_request_id", "async"))


def check_unknown_request_id(
    ours: Mapping[str, Any], ref: Callable[[], Any], census: Census
) -> None:
    for how in ("status", "result"):
        assert ours[how] != "no error", f"{how}() of an unknown request id did not raise"
        assert ours[how]["is_http_error"] and ours[how]["status_code"] == 404, ours[how]
    records = census.requests()
    cancels = [r for r in records if r.operation == "cancel"]
    assert cancels == [], "giving up on an unknown request id sent a cancel for it"
    assert ours["after"] == "emu1"
    # Only a server without status streams may turn them off: one 404 for an unknown id must
    # not (the official client always polls, so this is about this package only).
    streamed = requests_for(records, ours["after_id"], "status_stream")
    assert streamed, "after one 404 the client stopped using status streams"
    official_obs = ref()
    for how in ("status", "result"):
        assert official_obs[how]["str"] in ours[how]["str"]
        assert official_obs[how]["status_code"] == ours[how]["status_code"]


def test_unknown_request_id(census: Census, official: Official) -> None:
    """``status``/``result`` of a saved request id the server no longer knows: a 404 error,
    no cancel sent for it, and the client goes on working as before."""
    ours = census.sync("unknown_request_id")
    check_unknown_request_id(ours, official.ref("unknown_request_id", "sync"), census)


@pytest.mark.anyio
async def test_unknown_request_id_async(census: Census, official: Official) -> None:
    ours = await census.async_("unknown_request_id")
    check_unknown_request_id(ours, official.ref("unknown_request_id", "async"), census)


# --- statuses and logs ---------------------------------------------------------------------------

STEP_LOGS = {
    "iter_events": [f"step {i}" for i in range(4)],
    "subscribe": [f"step {i}" for i in range(3)],
}


def check_status_logs(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    for how, lines in STEP_LOGS.items():
        statuses = ours[how]
        assert statuses and statuses[-1]["type"] == "Completed", statuses
        assert statuses[-1]["logs"] == lines, (
            f"{how}: Completed.logs must hold every line exactly once, in order"
        )
        for status in statuses:
            logs = status["logs"] or []
            assert logs == lines[: len(logs)], (
                f"{how}: a {status['type']} status carries {logs}, not the logs so far"
            )
        assert all(s["log_keys"] is None or "message" in s["log_keys"] for s in statuses)
    official_obs = ref()
    for how, lines in STEP_LOGS.items():
        assert official_obs[how][-1]["logs"] == lines
        assert official_obs[how][-1]["log_keys"] == ours[how][-1]["log_keys"]


def test_status_logs_accumulate(census: Census, official: Official) -> None:
    """Each status a handle yields carries the logs so far; ``Completed.logs`` all of them."""
    check_status_logs(census.sync("status_logs"), official.ref("status_logs", "sync"))


@pytest.mark.anyio
async def test_status_logs_accumulate_async(census: Census, official: Official) -> None:
    check_status_logs(await census.async_("status_logs"), official.ref("status_logs", "async"))


STATUS_FLAGS = {"Queued": "is_queued", "InProgress": "is_in_progress", "Completed": "is_completed"}


def check_status_types(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    # Code tests ``type(status).__name__ == "Completed"``, ``"Completed" in str(status)`` and
    # ``isinstance(status, fal_client.InProgress)``.
    for statuses in (ours["iter_events"], ours["subscribe"]):
        for status in statuses:
            assert status["type"] in STATUS_FLAGS, status["type"]
            assert status["is_status"] and status["str_has_type_name"], status
            assert status[STATUS_FLAGS[status["type"]]], status
    official_obs = ref()
    assert official_obs["iter_events"][-1]["type"] == ours["iter_events"][-1]["type"]


def test_status_class_names(census: Census, official: Official) -> None:
    check_status_types(census.sync("status_logs"), official.ref("status_logs", "sync"))


@pytest.mark.anyio
async def test_status_class_names_async(census: Census, official: Official) -> None:
    check_status_types(await census.async_("status_logs"), official.ref("status_logs", "async"))


def test_construct_statuses(census: Census, official: Official) -> None:
    """Tests build ``Queued(position=0)``, ``InProgress(logs=None)``, ``Completed(logs=...,
    metrics=..., error=...)`` to feed their own code."""
    ours = census.sync("construct_statuses")
    assert ours["queued_position"] == 3 and ours["equal"] and not ours["unequal"]
    assert ours == official.ref("construct_statuses", "sync")()


# --- errors --------------------------------------------------------------------------------------


def check_http_errors(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    for how in ("run", "subscribe"):
        invalid = ours[f"census/invalid {how}"]
        assert invalid["is_http_error"] and invalid["status_code"] == 422
        assert invalid["message"] == VALIDATION_DETAIL, "e.message must be the 422 detail list"
        assert invalid["status_code_type"] == "int" and invalid["response_headers_is_dict"]
        assert invalid["response_status_code"] == 422
        assert invalid["response_json"] == {"detail": VALIDATION_DETAIL}
        flagged = ours[f"census/flagged {how}"]
        assert "content_policy_violation" in flagged["str"]
        locked = ours[f"census/locked {how}"]
        assert locked["message"] == LOCKED_DETAIL and LOCKED_DETAIL in locked["str"]
    official_obs = ref()
    for key, theirs in official_obs.items():
        mine = ours[key]
        assert theirs["str"] in mine["str"], (
            f"{key}: str(e) must contain the official text verbatim: {theirs['str']!r} is not "
            f"in {mine['str']!r}"
        )
        comparable = {k: v for k, v in theirs.items() if k != "str"}
        assert {k: mine[k] for k in comparable} == comparable, key


def test_http_error_text_and_attributes(census: Census, official: Official) -> None:
    """``str(e)``, ``e.message`` (the 422 ``detail`` list), ``e.status_code: int``,
    ``e.response_headers: dict``, ``e.response``, ``"content_policy_violation" in str(e)``."""
    check_http_errors(census.sync("http_errors"), official.ref("http_errors", "sync"))


@pytest.mark.anyio
async def test_http_error_text_and_attributes_async(census: Census, official: Official) -> None:
    check_http_errors(await census.async_("http_errors"), official.ref("http_errors", "async"))


def check_cancel_finished(ours: Any, ref: Callable[[], Any]) -> None:
    assert ours != "no error", "cancelling a finished job must raise (code checks 400)"
    assert ours["is_http_error"] and ours["status_code"] == 400
    assert "ALREADY_COMPLETED" in ours["str"], ours["str"]
    official_obs = ref()
    assert official_obs["str"] in ours["str"]
    assert ours["status_code"] == official_obs["status_code"]
    assert ours["response_json"] == official_obs["response_json"]


def test_cancel_of_a_finished_job(census: Census, official: Official) -> None:
    check_cancel_finished(census.sync("cancel_finished"), official.ref("cancel_finished", "sync"))


@pytest.mark.anyio
async def test_cancel_of_a_finished_job_async(census: Census, official: Official) -> None:
    ours = await census.async_("cancel_finished")
    check_cancel_finished(ours, official.ref("cancel_finished", "async"))


def test_construct_errors(census: Census, official: Official) -> None:
    """``FalClientHTTPError(message, status_code, response_headers, response[, error_type])``
    positionally and by keyword, and ``FalClientTimeoutError(60.0[, request_id])``."""
    ours = census.sync("construct_errors")
    assert ours["positional_4"]["str"] == "boom" and ours["positional_4"]["status_code"] == 500
    assert ours["positional_5"]["error_type"] == "validation" and ours["response_identity"]
    assert ours == official.ref("construct_errors", "sync")()


def test_missing_credentials_error_without_arguments(census: Census, official: Official) -> None:
    ours = census.sync("missing_credentials_error")
    assert ours == {"str_bare": "", "str_message": "set FAL_KEY", "is_exception": True}
    assert ours == official.ref("missing_credentials_error", "sync")()


def check_client_timeout(ours: Any, ref: Callable[[], Any], census: Census) -> None:
    assert ours != "no error"
    assert ours["type_is_timeout"] and ours["is_builtin_timeout"]
    assert ours["enqueued"] == [ours["request_id"]] and ours["timeout"] == 1.05
    census.primary.wait_job_status(ours["request_id"], status="CANCELLED", timeout=10)
    official_obs = ref()
    expected = official_obs["str"].replace(official_obs["request_id"], ours["request_id"])
    assert expected in ours["str"], f"{expected!r} is not in {ours['str']!r}"


def test_client_timeout(census: Census, official: Official) -> None:
    """``subscribe(client_timeout=...)``: ``FalClientTimeoutError`` with the request id and
    the official text; the job is cancelled."""
    check_client_timeout(
        census.sync("client_timeout"), official.ref("client_timeout", "sync"), census
    )


@pytest.mark.anyio
async def test_client_timeout_async(census: Census, official: Official) -> None:
    ours = await census.async_("client_timeout")
    check_client_timeout(ours, official.ref("client_timeout", "async"), census)


# --- streaming -----------------------------------------------------------------------------------


def check_stream_urls(ours: Mapping[str, Any], ref: Callable[[], Any], census: Census) -> None:
    assert ours["alias_stream"] == [{"token": 0}, {"token": 1}, {"done": True, "server": "emu1"}]
    assert ours["workflow"] == [{"step": 0}, {"step": 1}, {"done": True}]
    assert ours["explicit_path"][-1] == {"done": True, "server": "emu1"}
    paths = sorted({r.path for r in census.requests() if r.method == "POST"})
    assert paths == ["/run/census/stream/stream", "/run/workflows/census/flow/stream"], paths
    assert ours == ref()


def test_stream_urls(census: Census, official: Official) -> None:
    """``stream("owner/stream")`` POSTs to ``/owner/stream/stream``; ``workflows/...`` ids
    keep their namespace; ``path="/stream"`` is the default spelled out."""
    check_stream_urls(census.sync("stream_urls"), official.ref("stream_urls", "sync"), census)


@pytest.mark.anyio
async def test_stream_urls_async(census: Census, official: Official) -> None:
    ours = await census.async_("stream_urls")
    check_stream_urls(ours, official.ref("stream_urls", "async"), census)


# --- keyword arguments on the wire ---------------------------------------------------------------


def wire_view(records: list[Any], obs: Mapping[str, Any]) -> dict[str, Any]:
    """What the server received for the submit, the run and the subscribe of ``call_options``."""

    def one(request_id: str, operation: str) -> Any:
        found = requests_for(records, request_id, operation)
        assert len(found) == 1, f"{len(found)} {operation} requests for {request_id}"
        return found[0]

    def options(record: Any) -> dict[str, Any]:
        headers = record.headers
        timeout = headers.get("x-fal-request-timeout")
        return {
            "hint": headers.get("x-fal-runner-hint"),
            "priority": headers.get("x-fal-queue-priority"),
            "start_timeout": None if timeout is None else float(timeout),
            "extra_header": headers.get("x-census-header"),
        }

    submit = one(obs["submit_id"], "submit")
    run = one(obs["run_id"], "run")
    subscribe = one(obs["subscribe_id"], "submit")
    return {
        "submit": options(submit),
        "webhook_in_query": "fal_webhook=" in submit.query,
        "run": options(run),
        "run_path": run.path,
        "subscribe": options(subscribe),
    }


def check_call_options(
    ours: Mapping[str, Any], ref: Callable[[], Any], census: Census, official: Official
) -> None:
    assert ours["enqueued_is_id"] and ours["last_update"] == "Completed"
    seen = wire_view(census.requests(), ours)
    assert seen["submit"] == {
        "hint": cases.HINT,
        "priority": "low",
        "start_timeout": 30.0,
        "extra_header": "census",
    }
    assert seen["webhook_in_query"]
    assert seen["run_path"] == "/run/census/echo/sub"
    assert seen["subscribe"]["priority"] == "normal" and seen["subscribe"]["hint"] == cases.HINT
    assert seen == wire_view(official.requests, ref())


def test_call_options_by_keyword(census: Census, official: Official) -> None:
    """``webhook_url``, ``priority``, ``hint``, ``start_timeout``, ``headers``, ``path``,
    ``on_enqueue``, ``with_logs``, ``interval``: as the official client sends them."""
    ours = census.sync("call_options")
    check_call_options(ours, official.ref("call_options", "sync"), census, official)


@pytest.mark.anyio
async def test_call_options_by_keyword_async(census: Census, official: Official) -> None:
    ours = await census.async_("call_options")
    check_call_options(ours, official.ref("call_options", "async"), census, official)


# --- files and data URLs -------------------------------------------------------------------------


def check_uploads(ours: Mapping[str, Any], ref: Callable[[], Any]) -> None:
    assert ours == {
        "bytes": "census bytes",
        "file": "census file",
        "image_is_png": True,
        "module_level": "module level",
    }
    assert ours == ref()


def test_upload_keywords(census: Census, official: Official) -> None:
    check_uploads(census.sync("uploads"), official.ref("uploads", "sync"))


@pytest.mark.anyio
async def test_upload_keywords_async(census: Census, official: Official) -> None:
    check_uploads(await census.async_("uploads"), official.ref("uploads", "async"))


def test_encode_helpers(census: Census, official: Official) -> None:
    ours = census.sync("encode_helpers")
    assert ours["bytes"] == ours["str"] == "data:text/plain;base64,Y2Vuc3Vz"
    assert ours["png_prefix"] == "data:image/png;base64"
    assert ours == official.ref("encode_helpers", "sync")()


# --- private attributes, patching, subclassing ---------------------------------------------------


def check_private_assignment(
    ours: Mapping[str, Any], ref: Callable[[], Any], census: Census
) -> None:
    assert ours["raised_at"] is not None, (
        "assigning client._client was silently accepted and the call went on"
        f" (it reached {ours['result']!r})"
    )
    assert "http_client" in ours["error"], f"the error must name http_client=: {ours['error']}"
    assert ours["mock_calls"] == 0
    assert not [r for r in census.requests() if r.operation == "run"], "a request was sent"
    # The official client refuses it too (a frozen dataclass), or fails on the next call.
    assert ref()["raised_at"] is not None


def test_private_client_assignment_fails_loudly(census: Census, official: Official) -> None:
    """``client._client = httpx.Client(transport=MockTransport(...))`` must fail loudly and
    name the supported way, never silently send."""
    ours = census.sync("private_client_assignment")
    check_private_assignment(ours, official.ref("private_client_assignment", "sync"), census)


@pytest.mark.anyio
async def test_private_client_assignment_fails_loudly_async(
    census: Census, official: Official
) -> None:
    ours = await census.async_("private_client_assignment")
    check_private_assignment(ours, official.ref("private_client_assignment", "async"), census)


def check_dict_injection(ours: Mapping[str, Any], ref: Callable[[], Any], census: Census) -> None:
    for label, outcome in ours.items():
        assert outcome["raised_at"] is not None, (
            f"{label}: a transport injected through __dict__ was accepted without an error"
            f" and the call reached {outcome['result']!r}"
        )
        assert "http_client" in outcome["error"], f"{label}: {outcome['error']}"
        assert outcome["mock_calls"] == 0
    assert not [r for r in census.requests() if r.operation == "run"], "a request was sent"
    # Deliberate difference: the official client uses the injected transport (its cached
    # property lives in __dict__); here it cannot, so it must say so.
    official_obs = ref()
    assert {label: o["result"] for label, o in official_obs.items()} == {
        "client": "mock",
        "default": "mock",
    }


def test_private_client_dict_injection_never_sends_silently(
    census: Census, official: Official
) -> None:
    """``monkeypatch.setitem(fal_client.sync_client.__dict__, "_client", ...)``, as test
    harnesses of metering middleware do."""
    ours = census.sync("private_client_dict_injection")
    check_dict_injection(ours, official.ref("private_client_dict_injection", "sync"), census)


@pytest.mark.anyio
async def test_private_client_dict_injection_never_sends_silently_async(
    census: Census, official: Official
) -> None:
    ours = await census.async_("private_client_dict_injection")
    check_dict_injection(ours, official.ref("private_client_dict_injection", "async"), census)


def test_patch_module_functions(census: Census, official: Official) -> None:
    """``mock.patch("fal_client.subscribe")``, ``patch.object(fal_client, "submit")``,
    ``monkeypatch.setattr(fal_client, "upload_file", ...)``, and the real ones afterwards."""
    ours = census.sync("patch_module_functions")
    assert ours["subscribe"] == {"patched": "subscribe"} and ours["real_after"] == "emu1"
    assert ours == official.ref("patch_module_functions", "sync")()


@pytest.mark.anyio
async def test_patch_module_functions_async(census: Census, official: Official) -> None:
    ours = await census.async_("patch_module_functions")
    assert ours["class_patch"] == "FalClientHTTPError: boom" and ours["real_after"] == "emu1"
    assert ours == official.ref("patch_module_functions", "async")()


def check_metering_wrappers(
    ours: Mapping[str, Any], ref: Callable[[], Any], *, calls: Optional[Collection[str]] = None
) -> None:
    """The wrapped methods each call fires, ours against the official client's (``calls``:
    only these calls)."""
    assert ours["aliases_are_default_methods"]
    assert ours["on_enqueue_calls"] == 1
    official_obs = ref()
    differing = {
        call: {"official": fired, "ours": ours.get(call)}
        for call, fired in official_obs.items()
        if ours.get(call) != fired and (calls is None or call in calls)
    }
    assert differing == {}, (
        "wrapping the fal_client.client class methods does not see the same calls as with the "
        f"official client (metering middleware counts on it): {differing}"
    )


def test_metering_wrappers_see_every_call(census: Census, official: Official) -> None:
    """Middleware wraps ``fal_client.client.SyncClient.run``... by dotted name, re-binds the
    module aliases to the default clients' methods, and meters results at ``*RequestHandle.get``
    (``submit().get()`` and ``result()`` end there). A sync call fires the sync wrappers only,
    once (never ``AsyncClient``'s too)."""
    check_metering_wrappers(
        census.sync("metering_wrappers"),
        official.ref("metering_wrappers", "sync"),
        calls=("run", "submit_get", "stream", "result", "status"),
    )


def test_metering_wrappers_see_sync_subscribe(census: Census, official: Official) -> None:
    """Sync ``subscribe`` passes through ``SyncClient.submit`` and ``SyncRequestHandle.get``."""
    check_metering_wrappers(
        census.sync("metering_wrappers"),
        official.ref("metering_wrappers", "sync"),
        calls=("subscribe",),
    )


@pytest.mark.anyio
async def test_metering_wrappers_see_every_call_async(census: Census, official: Official) -> None:
    """Async ``subscribe`` passes through ``AsyncClient.submit`` and the handle's ``get``,
    ``result``/``status`` through ``get_handle``, as in the official client."""
    ours = await census.async_("metering_wrappers")
    check_metering_wrappers(ours, official.ref("metering_wrappers", "async"))


def test_subclass_client(census: Census, official: Official) -> None:
    ours = census.sync("subclass_client")
    assert ours == {"run": "emu1", "default_timeout": 30.0, "is_sync_client": True}
    assert ours == official.ref("subclass_client", "sync")()


@pytest.mark.anyio
async def test_subclass_client_async(census: Census, official: Official) -> None:
    ours = await census.async_("subclass_client")
    assert ours == {"run": "emu1", "default_timeout": 30.0, "is_async_client": True}
    assert ours == official.ref("subclass_client", "async")()


# --- deadlines and event loops -------------------------------------------------------------------


def test_run_default_deadline_is_not_shorter_than_official(
    census: Census, official: Official
) -> None:
    """``run()`` with default settings on a job that takes long: observed on a virtual clock
    (trio's ``MockClock``), so an hour passes in about a second of real time."""
    import trio.testing

    gate = census.new_gate()
    outcome: dict[str, Any] = {}

    async def main() -> None:
        async def release_after_deadline() -> None:
            # Virtual time: the clock jumps here only once every task waits, which is when the
            # app holds the request open; a client deadline before this fires first.
            await anyio.sleep(LONG_JOB_SECONDS)
            census.gates[gate].open()

        async with anyio.create_task_group() as tg:
            tg.start_soon(release_after_deadline)
            started = anyio.current_time()
            try:
                async with fal_client.AsyncClient() as client:
                    outcome["result"] = await client.run("census/gated", {"gate": gate})
            except Exception as exc:
                outcome["error"] = cases.describe_error(exc)
            outcome["elapsed"] = anyio.current_time() - started
            tg.cancel_scope.cancel()

    clock = trio.testing.MockClock(autojump_threshold=1.0)
    # trio.run itself, not anyio.run(backend_options={"clock": ...}): anyio before 4.13 (the
    # newest on Python 3.9 is 4.12) drops the options, so the real clock ran and the test
    # waited a real hour (anyio issue 1162).
    trio.run(main, clock=clock)
    assert "error" not in outcome, (
        f"run() gave up after {outcome['elapsed']:.0f} (virtual) seconds with default settings:"
        f" {outcome['error']}"
    )
    assert outcome["result"]["released"] and outcome["elapsed"] >= LONG_JOB_SECONDS
    assert census.sync("run_default_timeout")["timeout_default"] == "None"
    # The official client sends run() with no timeout at all (httpx timeout=None), so a
    # finite default here is a deliberate difference, an hour or more.
    for mode in ("sync", "async"):
        official_obs = official.ref("run_default_timeout", mode)()
        assert official_obs["timeout_default"] == "None"
        unlimited = {"connect": None, "read": None, "write": None, "pool": None}
        sent = official_obs["httpx_timeouts"]
        assert sent and all(timeout == unlimited for timeout in sent), sent


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_short_lived_event_loops(census: Census, official: Official, backend: str) -> None:
    """``asyncio.run(fal_client.run_async(...))`` twice, and the reset people wrote for the
    official client (popping ``fal_client.async_client.__dict__["_client"]``)."""
    fn = cases.OWN_LOOPS["short_lived_loops"]
    ours = fn(fal_client, dict(census.ctx), lambda f: anyio.run(f, backend=backend))
    assert ours == {"first": "emu1", "second": "emu1", "reset": None, "after_reset": "emu1"}
    # Deliberate difference: the official default async client keeps the connections of the
    # loop that first used it (the official run used one before this case), so a call from a
    # new loop fails until that stale connection is dropped; on 1.0.3 the popular workaround
    # itself raises, because the cached value is an awaitable wrapper, not the httpx client.
    official_obs = official.ref("short_lived_loops", "asyncio")()
    assert official_obs["first"] == "RuntimeError: Event loop is closed"
    assert official_obs["second"] == official_obs["after_reset"] == "emu1"
    assert official_obs["reset"].startswith("AttributeError")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_unclosed_async_client(census: Census, official: Official, backend: str) -> None:
    """``AsyncClient(key=...)`` per call, never closed (the official one cannot be closed)."""
    fn = cases.OWN_LOOPS["unclosed_async_client"]
    ours = fn(fal_client, dict(census.ctx), lambda f: anyio.run(f, backend=backend))
    assert ours["result"] == "emu1"
    assert all(w.startswith("unclosed") for w in ours["resource_warnings"]), ours
    # The official client leaves its sockets to the garbage collector too.
    official_obs = official.ref("unclosed_async_client", "asyncio")()
    assert official_obs["result"] == "emu1" and official_obs["resource_warnings"]


def test_every_case_has_a_test() -> None:
    """A case nobody compares would be a pattern the census claims and nothing checks."""
    source = inspect.getsource(sys.modules[__name__])
    unused = [
        name for name in {*cases.SYNC, *cases.ASYNC, *cases.OWN_LOOPS} if f'"{name}"' not in source
    ]
    assert unused == []
