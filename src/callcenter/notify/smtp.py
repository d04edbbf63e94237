"""E-mail through an SMTP server with aiosmtplib (``services.outbox.Sender`` for ``kind="email"``)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from callcenter.domain.notify import OutboxItem
from callcenter.services.outbox import DeliveryError


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    async def send(self, item: OutboxItem) -> int | None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = item.target
        message["Subject"] = str(item.payload.get("subject", ""))
        message["X-Callcenter-Ref"] = item.ref
        message.set_content(str(item.payload.get("body", "")))
        try:
            errors, _reply = await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                start_tls=self.starttls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", exc.code) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc}") from exc
        if errors:
            code, text = next(iter(errors.values()))
            raise DeliveryError(f"SMTP {code}: {text}", code)
        return 250
