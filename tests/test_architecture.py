"""The package's layers (docs/architecture.md): imports point one way, and never in a circle.

Read from the source with ``ast``, so imports under ``if TYPE_CHECKING:`` and inside functions
count as much as the ones at the top: a circle that only type checkers walk is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fal_client"

#: Protocol logic without I/O: no event loop, no HTTP library, nothing above this layer.
PROTOCOL = {
    "fal_client._aimd",
    "fal_client._app_context",
    "fal_client._endpoints",
    "fal_client._errors",
    "fal_client._headers",
    "fal_client._input_check",
    "fal_client._lifecycle",
    "fal_client._upload_options",
    "fal_client._openapi_schemas",
    "fal_client._platform",
    "fal_client._realtime_protocol",
    "fal_client._reconcile",
    "fal_client._retry",
    "fal_client._schema_example",
    "fal_client._sse",
    "fal_client._status",
    "fal_client._typegen",
    "fal_client._types",
    "fal_client._validate",
    "fal_client._version",
}
#: What no protocol module may import.
IO_LIBRARIES = {"anyio", "httpx", "httpx2", "trio", "sniffio"}
#: The clients and everything generated from them: no engine or resource module imports these.
CLIENT_LAYER = {
    "fal_client",
    "fal_client._client",
    "fal_client._sync_base",
    "fal_client._sync",
    "fal_client._module_api",
    "fal_client._defaults",
    "fal_client._cli",
    "fal_client._cli_args",
    "fal_client._cli_platform",
    "fal_client.client",
    "fal_client.auth",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(module: str) -> bool:
    base = PACKAGE.parent / module.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(fal_client module -> fal_client modules it imports, module -> top-level libraries)``."""
    graph: dict[str, set[str]] = {}
    libraries: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        libs: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if not module.startswith("fal_client"):
                    libs.add(module.split(".")[0])
                    continue
                for alias in node.names:
                    candidate = f"{module}.{alias.name}"
                    deps.add(candidate if _exists(candidate) else module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("fal_client"):
                        deps.add(alias.name)
                    else:
                        libs.add(alias.name.split(".")[0])
        deps.discard(name)
        graph[name] = deps
        libraries[name] = libs
    return graph, libraries


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    graph, _ = import_graph()
    assert [sorted(c) for c in circles(graph)] == []


def test_the_circle_finder_finds_circles() -> None:
    # The check above must be able to fail.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]


def test_protocol_modules_do_no_io_and_import_only_protocol() -> None:
    graph, libraries = import_graph()
    for module in sorted(PROTOCOL):
        assert module in graph, f"{module} is listed as protocol but does not exist"
        assert not libraries[module] & IO_LIBRARIES, (module, libraries[module] & IO_LIBRARIES)
        assert graph[module] <= PROTOCOL, (module, graph[module] - PROTOCOL)


def test_emulator_routes_never_hold_the_public_emulator() -> None:
    # They get its state and a small control object (testing/_control.py) instead.
    graph, _ = import_graph()
    for module in (
        "fal_client.testing._asgi",
        "fal_client.testing._inspect_routes",
        "fal_client.testing._platform_routes",
    ):
        assert "fal_client.testing._emulator" not in graph[module], module


def test_engine_and_resources_do_not_import_the_clients() -> None:
    graph, _ = import_graph()
    for module, deps in graph.items():
        if module in CLIENT_LAYER or module.startswith("fal_client.testing"):
            continue
        assert not deps & CLIENT_LAYER, (module, deps & CLIENT_LAYER)
