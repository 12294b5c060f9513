"""A service exercising the SDK's options: run by the tests as a real process."""

import asyncio
import time

from fastapi import HTTPException
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from daeploy import service
from daeploy.communication import call_service

ticks = {"count": 0}


class Point(BaseModel):
    x: float
    y: float = 0.0


@service.entrypoint
def add(a: int, b: int = 1) -> int:
    """Adds two numbers."""
    return a + b


@service.entrypoint(method="GET", status_code=201)
def greet(name: str = "world") -> str:
    return f"hello {name}"


@service.entrypoint
async def async_double(value: float) -> float:
    await asyncio.sleep(0.01)
    return value * 2


@service.entrypoint
def length(point: Point, scale: float = 1.0) -> float:
    return (point.x**2 + point.y**2) ** 0.5 * scale


@service.entrypoint
def nothing() -> None:
    return None


@service.entrypoint(response_model=None, tags=["custom"])
def untyped(items: list[int]) -> dict:
    return {"total": sum(items)}


@service.entrypoint
def refuse(code: int) -> str:
    raise HTTPException(status_code=code, detail=f"refused with {code}")


@service.entrypoint
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@service.entrypoint
def relay(callee: str, entrypoint: str, arguments: dict, timeout: float = 2.0) -> object:
    """Calls another service (found through DAEPLOY_SERVICE_URLS); errors map to 502/503/504."""
    return call_service(callee, entrypoint, arguments=arguments, timeout=timeout)


service.add_parameter("threshold", 5)
service.add_parameter("label", "first")
service.add_parameter("secret", "hidden", expose=False)


@service.entrypoint
def threshold_plus(value: int) -> int:
    return value + service.get_parameter("threshold")


@service.call_every(0.05)
def tick() -> None:
    ticks["count"] += 1


@service.entrypoint
def tick_count() -> int:
    return ticks["count"]


async def extra(_request: object) -> PlainTextResponse:
    return PlainTextResponse("mounted app")


service.app.mount("/extra", Starlette(routes=[Route("/", extra)]))

if __name__ == "__main__":
    service.run()
