"""``/~monitor``: the stored values as JSON, as CSV files in a zip, or the SQLite file itself,
with 1.x's answers (412 for a variable that was never stored)."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from daeploy.contract import MONITOR_PATH
from daeploy.monitoring.store import MonitorStore, UnknownVariable

TAG = "Monitoring"


def add_monitor_routes(app: FastAPI, store: MonitorStore) -> None:
    def collect(
        start: datetime | None, end: datetime | None, variables: list[str] | None
    ) -> dict[str, dict[str, list[Any]]]:
        store.flush()  # what was stored before this request is in the answer
        out: dict[str, dict[str, list[Any]]] = {}
        for name in variables or store.variables():
            try:
                rows = store.read(name, start, end)
            except UnknownVariable as error:
                raise HTTPException(status_code=412, detail=str(error)) from None
            out[name] = {"timestamp": [t for t, _ in rows], "value": [v for _, v in rows]}
        return out

    @app.get(MONITOR_PATH, tags=[TAG])
    def monitored_json(
        start: datetime | None = None,
        end: datetime | None = None,
        variables: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, dict[str, list[Any]]]:
        """Stored values by variable, between ``start`` and ``end`` (UTC), all by default."""
        return collect(start, end, variables)

    @app.get(f"{MONITOR_PATH}/csv", tags=[TAG])
    def monitored_csv(
        start: datetime | None = None,
        end: datetime | None = None,
        variables: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """One CSV file per variable (timestamp, value), in a zip."""
        data = collect(start, end, variables)
        if not data:
            raise HTTPException(status_code=412, detail="No monitored variables exists")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name, series in data.items():
                text = io.StringIO()
                writer = csv.writer(text)
                writer.writerow(["timestamp", "value"])
                writer.writerows(zip(series["timestamp"], series["value"], strict=True))
                zipped.writestr(f"{name}.csv", text.getvalue())
        return Response(
            archive.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="csv_data.zip"'},
        )

    @app.get(f"{MONITOR_PATH}/db", tags=[TAG])
    def monitored_db() -> FileResponse:
        """The SQLite file, one table per variable (a consistent copy)."""
        store.flush()
        folder = Path(tempfile.mkdtemp(prefix="daeploy-monitor-"))
        copy = store.copy_to(folder / "database.db")
        return FileResponse(
            copy,
            filename="database.db",
            media_type="application/vnd.sqlite3",
            background=BackgroundTask(_remove, folder),
        )


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()
