"""A service written for Daeploy 1.x's monitoring: monitor=True, store(), a monitored
parameter, an entrypoint whose calls stay out of the access log."""

from daeploy import service
from daeploy.exceptions import HTTPException

service.add_parameter("threshold", 3, monitor=True)


@service.entrypoint(monitor=True)
def double(value: float) -> dict:
    service.store(doubled=value * 2, label=f"x{value}", raw={"v": value})
    return {"result": value * 2}


@service.entrypoint(method="GET", disable_http_logs=True)
def quiet_ping() -> str:
    return "pong"


@service.entrypoint(method="GET")
def loud_ping() -> str:
    return "pong"


@service.entrypoint
def teapot() -> str:
    raise HTTPException(status_code=418, detail="short and stout")


@service.entrypoint
def boom() -> str:
    raise ValueError("broken on purpose")


if __name__ == "__main__":
    service.run()
