"""pytest plugin (``pytest11`` entry point ``fal_client_emulator``): the ``fal_emulator`` fixture.

Import-light on purpose: pytest imports every registered plugin at startup, so nothing heavy
(Starlette, uvicorn) is imported until a test actually uses the fixture, and a missing
``testing`` extra only fails the tests that use it, with a clear message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from fal_client.testing import Emulator


@pytest.fixture
def fal_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running fal emulator for one test, with ``os.environ`` and the default clients pointed
    at it (``FAL_KEY``, ``FAL_RUN_URL``, ``FAL_QUEUE_URL``, ``FAL_REST_URL``, ``FAL_CDN_URL``).

    Register apps on it, drive it, inspect it::

        def test_upscale(fal_emulator):
            @fal_emulator.app("me/upscale")
            async def upscale(arguments, ctx):
                return {"ok": True}

            assert fal_client.run("me/upscale", arguments={}) == {"ok": True}
    """
    try:
        from fal_client.testing._emulator import Emulator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.fail(
            f"the fal_emulator fixture needs the emulator's dependencies ({exc}); "
            "install them with: pip install 'fal-client-anyio[testing]'",
            pytrace=False,
        )
    from fal_client import _defaults

    emulator = Emulator()
    with emulator:
        for name, value in emulator.env.items():
            monkeypatch.setenv(name, value)
        _defaults.reset_default_clients()
        try:
            yield emulator
        finally:
            _defaults.reset_default_clients()
