"""The built-in ops dashboard: read-only HTML pages at `/dashboard`, drawn on the server.

`routes` (the pages and the login form), `queries` (reads, mostly of the dashboard views of
migration 0003), `charts` (SVG, no JavaScript), `templates/` and `static/` (one stylesheet).
docs/dashboard.md describes the pages and the views, for Grafana or Metabase users too.
"""
