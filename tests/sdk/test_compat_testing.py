"""daeploy.testing.patch, used as 1.x's "Testing Services" tutorial uses it.

The service below is the tutorial's, imported as the module ``service`` the way a service's own
tests import it; the process-wide ``daeploy.service`` is a fresh Service for this file only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
import unittest.mock
from collections.abc import Iterator
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

import daeploy._service
from daeploy._service import Service
from daeploy.calls import ServiceUnreachableError
from daeploy.testing import patch

SERVICE_PY = """
import logging

from daeploy import communication, service
from daeploy.communication import Severity, call_service, notify

logger = logging.getLogger(__name__)

service.add_parameter("greeting_phrase", "Hello")


@service.entrypoint
def hello(name: str) -> str:
    greeting_phrase = service.get_parameter("greeting_phrase")
    if name == "World":
        notify(
            msg="Someone is trying to greet the World, too time consuming. Skipping!",
            severity=Severity.WARNING,
            emails=None,
        )
        return "Greeting failed"
    logger.info(f"Greeting someone with the name: {name}")
    return f"{greeting_phrase} {name}"


@service.entrypoint
def ping_service(service_name: str) -> str:
    return call_service(service_name=service_name, entrypoint_name="ping")


@service.entrypoint
def warn(text: str) -> None:
    communication.notify(text, Severity.CRITICAL)


@service.entrypoint
def remember(value: float) -> None:
    service.store(value=value)


if __name__ == "__main__":
    service.run()
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("hello")
    (folder / "service.py").write_text(textwrap.dedent(SERVICE_PY))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # the Service's monitoring store is a file in the working folder
        mp.setattr(daeploy._service, "service", Service())
        spec = importlib.util.spec_from_file_location("service", folder / "service.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        mp.setitem(sys.modules, "service", module)
        spec.loader.exec_module(module)
        yield module


def test_unpatched_calls_behave_as_outside_a_cluster(service: ModuleType) -> None:
    assert service.hello("Bob") == "Hello Bob"
    assert service.hello("World") == "Greeting failed"  # notify only logs here
    with pytest.raises(ServiceUnreachableError):
        service.ping_service("test_service")


def test_notify_called(service: ModuleType) -> None:
    with patch("service.notify") as notify:
        service.hello("World")
        notify.assert_called()
    assert service.notify is not notify  # restored


def test_ping_service(service: ModuleType) -> None:
    with patch("service.call_service") as call_service:
        call_service.return_value = "Responding"
        assert service.ping_service("test_service") == "Responding"
        call_service.assert_called_once_with(service_name="test_service", entrypoint_name="ping")


@patch("service.notify")
def test_as_a_decorator(notify: unittest.mock.MagicMock, service: ModuleType) -> None:
    service.hello("World")
    notify.assert_called_once()
    assert notify.call_args.kwargs["msg"].startswith("Someone is trying")


def test_calls_through_the_module_are_patched_on_daeploy_communication(
    service: ModuleType,
) -> None:
    with patch("daeploy.communication.notify") as notify:
        service.warn("disk full")
        notify.assert_called_once_with("disk full", service.Severity.CRITICAL)


def test_store_is_patched_on_the_service_object(service: ModuleType) -> None:
    with patch("service.service.store") as store:
        service.remember(2.5)
        store.assert_called_once_with(value=2.5)
    with patch.object(service.service, "store") as store:
        service.remember(1.0)
        store.assert_called_once_with(value=1.0)
    assert "store" not in vars(service.service)  # the method is back


def test_patches_hold_in_the_entrypoints_worker_threads(service: ModuleType) -> None:
    with TestClient(service.service.app) as http, patch("service.call_service") as call:
        call.return_value = "Responding"
        response = http.post("/ping_service", json={"service_name": "test_service"})
    assert response.json() == "Responding"
    call.assert_called_once_with(service_name="test_service", entrypoint_name="ping")


def test_a_misspelt_target_fails(service: ModuleType) -> None:
    with pytest.raises(AttributeError), patch("service.notfy"):
        pass


def test_dict_and_multiple_are_mocks(service: ModuleType) -> None:
    with patch.dict(os.environ, {"GREETING": "hi"}):
        assert os.environ["GREETING"] == "hi"
    assert "GREETING" not in os.environ
    with patch.multiple("service", notify=unittest.mock.DEFAULT) as mocks:
        service.hello("World")
        mocks["notify"].assert_called_once()
