"""The daeploy package: 1.x's submodules as attributes, loaded only when first used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sdk_support import clean_env


def _run(code: str) -> None:
    """A fresh interpreter, so what is imported is not what earlier tests imported."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr


def test_names_does_not_build_the_web_app_or_load_communication() -> None:
    _run(
        """
        import sys
        import daeploy.names
        loaded = {"daeploy._service", "daeploy.communication", "daeploy.utilities", "fastapi"}
        assert not loaded & set(sys.modules), loaded & set(sys.modules)
        """
    )


def test_1x_submodules_are_attributes_of_the_package() -> None:
    _run(
        """
        import sys
        import daeploy
        assert daeploy.communication is sys.modules["daeploy.communication"]
        assert daeploy.communication.notify.__module__ == "daeploy.notifications"
        assert daeploy.utilities.get_service_version() == "0.0.0"
        assert callable(daeploy.testing.patch)
        assert "daeploy._service" not in sys.modules  # none of them needs the web app
        assert "communication" in daeploy.__all__
        try:
            daeploy.nothing
        except AttributeError as error:
            assert "nothing" in str(error)
        else:
            raise AssertionError("daeploy.nothing resolved")
        """
    )


def test_1x_star_import_gives_service_and_the_modules() -> None:
    _run(
        """
        from daeploy import *
        assert callable(service.entrypoint)
        assert callable(communication.call_service)
        assert callable(utilities.get_service_name)
        """
    )
