"""Operability: request ids, Prometheus metrics at /metrics, and JSON logs.

One pure ASGI middleware (`middleware.ObserveMiddleware`) wraps the whole app, outside even Starlette's error
middleware, so every response - errors, streams, a bug's 500 - is seen once::

    client ─▶ ObserveMiddleware ─▶ (Starlette: errors, API key, routes, backends)
               │ request id: the client's `x-request-id` if sane, else `req_<hex>`; echoed on every response,
               │   and in a context variable for log records (JSON logs)
               │ the app notes the model in the scope; the fake counts its own tokens, other answers' `usage`
               │   is read from their bytes
               ├─▶ metrics.Metrics.record  (route template, model, status, duration, first token, tokens)
               └─▶ logs.access             (one JSON line per request, with --log-format json)

The modules, one concern each:

* `context`: the model the app routed the request to (in the scope), the request id for log records.
* `request_id`: accepting a client's request id, or making one.
* `usage`: token counts read from the `usage` object of an answer's bytes (relayed answers, event streams).
* `metrics`: the counters and histograms, and their Prometheus text form.
* `middleware`: the middleware itself.
* `logs`: the JSON log format, uvicorn's logging configuration for it, and the access log.
"""
