"""The planning service: an HTTP API over plan jobs, with keys, roles and an audit log.

``app`` builds the FastAPI application, ``store`` keeps plans and keys in
SQLite, ``audit`` the hash-chained audit log (and checks it), ``keys`` makes
and checks API keys, ``jobs`` runs plans in worker processes, ``delivered``
keeps a plan's uploaded tracks and measures what was delivered, ``weeks`` says
which weeks may be planned, ``middleware`` puts security headers, the allowed
hosts and an audit entry around every request, ``problems`` shapes errors (RFC
9457), ``files`` keeps the data folder private and clear of unfinished
bundles, ``config`` reads the server config. Start it with ``patrols serve``;
see ``docs/service.md``.
"""
