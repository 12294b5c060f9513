"""Runs a folder deploy: ``python -m daeploy.runtime [ARCHIVE]``.

The operator mounts the packed folder (``spec.source.configMap``) and sets
``DAEPLOY_SOURCE_ARCHIVE``; the runtime extracts it safely into ``DAEPLOY_WORKDIR``
(``/tmp/daeploy/app``), installs ``requirements.txt`` only if something in it is missing, and
runs ``service.py`` as ``__main__``. A failure exits non-zero with a one-line reason on stderr
and in ``/dev/termination-log``, which ``kubectl describe pod`` shows.
"""
