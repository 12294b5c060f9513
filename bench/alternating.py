"""Side-by-side latency: one request to each URL in turn, so both sides see the same machine.

Self-contained (httpx and the standard library, imported inside): ``bench/access.py`` also runs
this function's source in a pod.
"""

from __future__ import annotations


def alternate(
    urls: dict,
    requests: int,
    headers: dict | None = None,
    interval: float = 0.0,
    body: object = None,
    flip: bool = False,
    warmup: int = 20,
) -> dict:
    """POST each URL in turn, ``requests`` times each; seconds per answered request by side.

    ``interval``: a request starts at most that often (0: back to back); ``flip``: the order is
    reversed every other round, so neither side always goes first. Non-200 answers are counted
    in ``errors``, not timed.
    """
    import time

    import httpx

    headers = headers or {}
    payload = {} if body is None else body
    clients = {side: httpx.Client(headers=headers.get(side, {}), timeout=30) for side in urls}
    latencies: dict = {side: [] for side in urls}
    errors: list = []
    pairs = list(urls.items())
    try:
        for _ in range(warmup):
            for side, url in pairs:
                clients[side].post(url, json=payload)
        for index in range(requests):
            for side, url in reversed(pairs) if flip and index % 2 else pairs:
                start = time.perf_counter()
                response = clients[side].post(url, json=payload)
                elapsed = time.perf_counter() - start
                if response.status_code == 200:
                    latencies[side].append(elapsed)
                else:
                    errors.append(f"{side}: HTTP {response.status_code} {response.text[:200]}")
                if interval:
                    time.sleep(max(0.0, interval - elapsed))
    finally:
        for client in clients.values():
            client.close()
    return {"latencies": latencies, "errors": errors[:20], "error_count": len(errors)}
