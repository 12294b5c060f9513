"""``patch`` for unit tests of a service: ``unittest.mock.patch`` itself, as in Daeploy 1.x.

A mock made by hand would have to follow every way a service module imports what it calls;
patching the name where the service module looks it up works for all of them::

    import service
    from daeploy.testing import patch

    def test_notify_called() -> None:
        with patch("service.notify") as notify:  # service.py did `from ... import notify`
            service.hello("World")
            notify.assert_called()

``call_service`` lives in ``daeploy.calls`` and ``notify`` in ``daeploy.notifications``, both
re-exported by ``daeploy.communication``: code that calls them through the module
(``communication.notify(...)``) is patched with ``patch("daeploy.communication.notify")``.
``service.store`` is patched with ``patch("service.service.store")`` or
``patch.object(service.service, "store")``.
"""

from __future__ import annotations

from unittest.mock import patch

__all__ = ["patch"]
