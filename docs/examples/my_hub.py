"""A minimal FastAPI hub instrumented with the public API only (docs/integration.md).

Run it with ``python docs/examples/my_hub.py`` and open http://127.0.0.1:8790/metrics.
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI, Header, HTTPException

from hub_middleware import HubTaps, instrument_app
from otel import HubTelemetry, Redactor, TelemetryConfig

TOKEN = os.environ.get("MY_HUB_TOKEN", "change-me-0123456789")
PORT = int(os.environ.get("MY_HUB_PORT", "8790"))
nodes: dict[str, str] = {}

# 1. One telemetry object per process, configured from the standard OTEL_* variables.
telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ), redactor=Redactor([TOKEN]))
taps = HubTaps(telemetry)
# 2. Tell the gauges where the counts come from (called on every collect: keep them cheap).
taps.read_counts_from(
    nodes=lambda: {"online": len(nodes), "stale": 0, "dead": 0},
    jobs=lambda: {"queued": 0, "inflight": 0},
)

app = FastAPI()


@app.post("/nodes/{node_id}")
async def register(node_id: str, authorization: str = Header(default="")) -> dict[str, str]:
    if authorization != f"Bearer {TOKEN}":
        # 3. Report security events where your hub decides them.
        taps.auth_failure("control", "invalid_token" if authorization else "missing_token")
        raise HTTPException(401)
    nodes[node_id] = "online"
    return {"node_id": node_id, "status": "online"}


# 4. Mount GET /metrics and the HTTP metrics middleware, after your own middleware.
instrument_app(app, telemetry, plane="control", server_port=PORT)

if __name__ == "__main__":
    try:
        uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
    finally:
        telemetry.shutdown()
