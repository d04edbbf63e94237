"""The aiohttp web adapter: pages, JSON API, health and metrics. Build it with ``create_web_app``."""

from callcenter.webapp.app import create_web_app

__all__ = ["create_web_app"]
