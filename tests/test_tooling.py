"""The project's static checks, enforced through the test suite so CI's one line runs them."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_generated_sync_api_is_up_to_date() -> None:
    # _sync.py and _module_api.py are written by the generator from the async definitions.
    proc = run(sys.executable, "tools/gen_sync_api.py", "--check")
    assert proc.returncode == 0, proc.stderr


def test_generated_emulator_docs_are_up_to_date() -> None:
    # docs/emulator.md's built-in apps and control API tables come from the app registry and
    # the endpoint table: an app or endpoint added without regenerating them fails here.
    proc = run(sys.executable, "tools/gen_emulator_docs.py", "--check")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.timeout(300)
def test_mypy_strict_is_clean() -> None:
    if shutil.which("mypy") is None and run(sys.executable, "-m", "mypy", "--version").returncode:
        pytest.fail("mypy is not installed: pip install -e '.[dev]'")
    proc = run(sys.executable, "-m", "mypy", "--strict", "fal_client")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    targets = ("fal_client", "tests", "tools", "benchmarks", "examples")
    proc = run(sys.executable, "-m", "ruff", "check", *[t for t in targets if (ROOT / t).exists()])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean() -> None:
    targets = ("fal_client", "tests", "tools", "benchmarks", "examples")
    existing = [t for t in targets if (ROOT / t).exists()]
    proc = run(sys.executable, "-m", "ruff", "format", "--check", *existing)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_public_names_are_pinned() -> None:
    import fal_client

    # The public surface changes only on purpose: update this list with the change.
    assert sorted(fal_client.__all__) == sorted(
        [
            "StorageACL",
            "StorageACLDecision",
            "StorageACLRule",
            "StorageSettings",
            "UploadOptions",
            "download_files",
            "download_files_async",
            "AnyJSON",
            "AppId",
            "ObjectExpiration",
            "AsyncClient",
            "AsyncRealtimeConnection",
            "AsyncRequestHandle",
            "AuthenticationError",
            "BatchResult",
            "BudgetExceededError",
            "CostEstimate",
            "EndpointSchema",
            "HistoryItem",
            "InputProblem",
            "InputValidationError",
            "ModelInfo",
            "Platform",
            "Price",
            "SchemaUnavailableWarning",
            "SyncPlatform",
            "UnknownEndpointError",
            "Completed",
            "Endpoints",
            "FalClientConnectionError",
            "FalClientError",
            "FalClientHTTPError",
            "FalClientTimeoutError",
            "InProgress",
            "JobCancelledError",
            "JobFailedError",
            "MapResults",
            "MissingCredentialsError",
            "NotFoundError",
            "Priority",
            "Progress",
            "Queued",
            "RateLimitError",
            "RealtimeConnection",
            "RealtimeError",
            "RetryPolicy",
            "ServerError",
            "StartTimeoutError",
            "Status",
            "SubmitNotConfirmedError",
            "SubmitNotRecoveredError",
            "SyncClient",
            "SyncIterator",
            "SyncRequestHandle",
            "UnexpectedResponseError",
            "ValidationError",
            "__version__",
            "cancel",
            "cancel_async",
            "download",
            "download_async",
            "encode",
            "encode_file",
            "encode_image",
            "fetch_credentials",
            "get_handle",
            "get_handle_async",
            "map",
            "map_async",
            "parse_app_id",
            "realtime",
            "realtime_async",
            "result",
            "result_async",
            "run",
            "run_async",
            "set_get_current_app",
            "status",
            "status_async",
            "stream",
            "stream_async",
            "submit",
            "submit_async",
            "subscribe",
            "subscribe_async",
            "upload",
            "upload_async",
            "upload_file",
            "upload_file_async",
            "upload_image",
            "upload_image_async",
            "version_tuple",
            "webhooks",
            "ws_connect",
            "ws_connect_async",
        ]
    )
    for name in fal_client.__all__:
        obj = getattr(fal_client, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"fal_client.{name} has no docstring"


def test_public_names_of_the_emulator_are_pinned() -> None:
    import fal_client.testing

    # As above, for fal_client.testing: update this list with the change.
    assert sorted(fal_client.testing.__all__) == sorted(
        [
            "DEFAULT_KEY",
            "AppContext",
            "AppError",
            "AppInfo",
            "Emulator",
            "FaultHandle",
            "FileInfo",
            "Gate",
            "JobInfo",
            "Price",
            "RequestRecord",
            "StreamInfo",
            "WebhookDelivery",
            "serve_forever",
        ]
    )
    for name in fal_client.testing.__all__:
        obj = getattr(fal_client.testing, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"fal_client.testing.{name} has no docstring"


# What ``import fal_client`` must not load: serverless functions and CLIs pay the import on every
# start (benchmarks/bench_import.py). The module-level functions load the engine on their first
# call and the other public names on first access (``fal_client.__init__._LAZY``).
NOT_LOADED_BY_IMPORT = (
    # optional extras, test servers, the other event loop
    "PIL",
    "starlette",
    "uvicorn",
    "trio",
    "msgpack",
    "wsproto",
    "cryptography",
    "jsonschema",
    # the event loop and the HTTP libraries: loaded by the first client
    "asyncio",
    "anyio",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "certifi",
    "ssl",
    "email",
    "tempfile",
    # the engine and what hangs off it
    "fal_client._client",
    "fal_client._sync",
    "fal_client._portal",
    "fal_client._engine",
    "fal_client._transport",
    "fal_client._queue",
    "fal_client._batch",
    "fal_client._budget",
    "fal_client._platform_api",
    "fal_client._schema_cache",
    "fal_client._realtime",
    "fal_client._websocket",
    "fal_client._upload",
    "fal_client._encoding",
    "fal_client.webhooks",
    "fal_client.client",
    "fal_client.auth",
    "fal_client.testing",
    "fal_client._cli",
    "fal_client._typegen",
)


def loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys; {statement}; print([m for m in {modules!r} if m in sys.modules])"
    proc = run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout)  # type: ignore[no-any-return]


def test_importing_the_package_stays_light() -> None:
    assert loaded_after("import fal_client", NOT_LOADED_BY_IMPORT) == []


def test_the_light_import_check_can_fail() -> None:
    # The check above sees a module the statement loads (it would pass vacuously otherwise).
    assert loaded_after("import fal_client; fal_client.webhooks", NOT_LOADED_BY_IMPORT) == [
        "fal_client.webhooks"
    ]


# What a client (the engine) must not load until an operation needs it: fan-out, webhooks,
# realtime's websocket, schema validation, the other event loop and the HTTP library the user
# did not choose. asyncio loads when a sync client's loop thread starts, not before.
NOT_LOADED_BY_A_CLIENT = (
    "PIL",
    "trio",
    "msgpack",
    "wsproto",
    "cryptography",
    "jsonschema",
    "asyncio",
    "fal_client._batch",
    "fal_client._budget",
    "fal_client._manifest",
    "fal_client._openapi_schemas",
    "fal_client._input_check",
    "fal_client._websocket",
    "fal_client.webhooks",
    "fal_client.testing",
    "fal_client._cli",
    "fal_client._typegen",
)


@pytest.mark.parametrize("library", ["httpx2", "httpx"])
def test_a_client_loads_only_what_its_operations_need(library: str) -> None:
    import importlib.util

    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed")
    other = "httpx" if library == "httpx2" else "httpx2"
    unwanted = (*NOT_LOADED_BY_A_CLIENT, other, f"{other.replace('httpx', 'httpcore')}")
    code = (
        "import sys; from fal_client import AsyncClient, SyncClient; "
        "AsyncClient(key='k'); SyncClient(key='k').close(); "
        f"print([m for m in {unwanted!r} if m in sys.modules], {library!r} in sys.modules)"
    )
    env = {**os.environ, "FAL_CLIENT_HTTP_LIBRARY": library}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "[] True", proc.stdout + proc.stderr


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    # ``from fal_client import X`` reaches the lazy ``__getattr__`` for names not yet loaded;
    # each name is imported as the first import of the package, with none of its modules
    # loaded (they are forgotten before each one: one process instead of one per name).
    code = (
        "import sys, traceback\n"
        "import fal_client\n"
        "names, failed = list(fal_client.__all__), []\n"
        "for n in names:\n"
        "    for m in [m for m in sys.modules if m.split('.')[0] == 'fal_client']:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        exec(f'from fal_client import {n}', {})\n"
        "    except Exception:\n"
        "        failed.append((n, traceback.format_exc(limit=2)))\n"
        "print(failed)"
    )
    proc = run(sys.executable, "-c", code)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_lazy_names_are_the_defining_modules_objects() -> None:
    import importlib

    import fal_client

    lazy: dict[str, str] = fal_client._LAZY  # type: ignore[attr-defined]
    assert set(lazy) <= set(fal_client.__all__)
    for name, module in lazy.items():
        real = importlib.import_module(f"fal_client.{module}")
        expected = real if module == name else getattr(real, name)
        assert getattr(fal_client, name) is expected, name
    assert set(fal_client.__all__) <= set(dir(fal_client))
    with pytest.raises(AttributeError):
        fal_client.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_type_checkers_see_the_lazy_names() -> None:
    # The ``if TYPE_CHECKING:`` imports in __init__ are what mypy and editors see; they must
    # name exactly the lazy table's names, from the same modules.
    import ast

    tree = ast.parse((ROOT / "fal_client" / "__init__.py").read_text())
    seen: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.level == 1:
                    for alias in stmt.names:
                        name = alias.asname or alias.name
                        seen[name] = stmt.module or alias.name
    import fal_client

    lazy = dict(fal_client._LAZY)  # type: ignore[attr-defined]
    official_paths = {"auth": "auth", "client": "client"}  # loaded on first use, not listed
    assert seen == {**lazy, **official_paths}


def test_sync_and_async_surfaces_match() -> None:
    import fal_client

    for sync_cls, async_cls in (
        (fal_client.SyncClient, fal_client.AsyncClient),
        (fal_client.SyncRequestHandle, fal_client.AsyncRequestHandle),
    ):
        for name in dir(async_cls):
            member = getattr(async_cls, name)
            if (
                name.startswith("_")
                or not callable(member)
                or name in ("aclose", "from_request_id")
            ):
                continue
            sync_member = getattr(sync_cls, name, None)
            assert sync_member is not None, f"{sync_cls.__name__}.{name} is missing"
            a = [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]
            s = [
                (p.name, p.kind, p.default)
                for p in inspect.signature(sync_member).parameters.values()
            ]
            assert s == a, f"{sync_cls.__name__}.{name} signature differs from the async one"
            assert sync_member.__doc__ == member.__doc__


def test_every_guarantee_breaking_edit_still_applies() -> None:
    # tools/break_guarantees.py breaks each guarantee with one edit and shows its tests fail;
    # an edit whose text moved away would make that proof silently stale.
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import break_guarantees
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for mutation in break_guarantees.MUTATIONS:
        text = (ROOT / mutation.path).read_text()
        assert text.count(mutation.old) == 1, f"{mutation.name}: update tools/break_guarantees.py"
        for target in mutation.tests:
            if target.startswith("tests"):
                assert (ROOT / target.split("::")[0]).exists(), f"{mutation.name}: {target}"
