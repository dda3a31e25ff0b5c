"""GET a JSON document from a hub plane over loopback, with a hard timeout.

``http.client`` rather than an HTTP library: no proxy settings from the environment, no
redirects (which could leave loopback), no cookies, and a cheap import.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from .config import Endpoint

#: A health or metrics answer is a few hundred bytes; anything far bigger is not the hub.
MAX_BODY_BYTES = 256 * 1024


class ProbeError(Exception):
    """The plane could not be asked, or did not answer JSON. The message holds no secret."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON


def get_json(endpoint: Endpoint, path: str, *, timeout_s: float) -> Answer:
    """``GET path`` on the plane and parse the JSON body.

    Raises:
        ProbeError: the endpoint is not contacted, the connection fails or times out.
    """
    if endpoint.refused is not None:
        raise ProbeError(f"not contacted: {endpoint.refused}")
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Accept": "application/json",
                                           "Connection": "close"})
        response = conn.getresponse()
        raw = response.read(MAX_BODY_BYTES + 1)
        status = response.status
    except TimeoutError:
        raise ProbeError(f"unreachable: no answer within {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        # The class and errno text only: deterministic, and it cannot echo a request.
        raise ProbeError(f"unreachable: {type(exc).__name__}"
                         + (f" ({exc.strerror})" if isinstance(exc, OSError)
                            and exc.strerror else "")) from None
    finally:
        conn.close()
    if len(raw) > MAX_BODY_BYTES:
        return Answer(status, None)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return Answer(status, body)
