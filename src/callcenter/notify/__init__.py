"""Outbound delivery adapters of the outbox (issue 16): SMTP e-mail (aiosmtplib) and signed HTTP webhooks
(aiohttp client). Both implement ``services.outbox.Sender``."""
