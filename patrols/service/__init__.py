"""The planning service: an HTTP API over plan jobs, with keys, roles and an audit log.

``app`` builds the FastAPI application, ``store`` keeps plans, keys and the
audit log in SQLite, ``keys`` makes and checks API keys, ``jobs`` runs plans in
worker processes, ``problems`` shapes errors (RFC 9457), ``config`` reads the
server config. Start it with ``patrols serve``; see ``docs/service.md``.
"""
