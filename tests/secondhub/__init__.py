"""A second, independently written hub, and the proof that the layer fits it.

``hub/`` is a small v1.5-compatible hub written the way another team would: two
processes (control and data) sharing one SQLite file in WAL mode, its own schema, its own
audit writer with its own field names and epoch-seconds time. Its gateway
(``hub/gateway.py``) is the only place that knows about the observability layer. The
tests start it as real processes and compare what it answers and what ``/metrics``
reports with what the tests count themselves (``ledger.py``).
"""
