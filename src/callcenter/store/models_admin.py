"""SQLAlchemy model of the settings administrators change in the browser (issue 18, migration 0016).

Imported by ``store/models.py`` so that it shares ``Base.metadata``. One row per setting (``key``:
``console.dispositions``, ``wallboard.supervisor_phones``, ``ivr.hours``) holding its whole value as JSON;
the service applies the rows over the configuration files at each start (``services/admin_settings.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base


class AdminSettingRow(Base):
    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String)
