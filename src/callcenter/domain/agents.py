"""Which channels belong to agents.

The tracker asks an ``AgentDirectory`` whether a channel name is an agent's phone. Known endpoints
(``PJSIP/1001`` → agent ``1001``) come from the ACD configuration; channels dialed into one of the
agent contexts (``Local/1001@agents-…;1``, the traces' "phones") map to their extension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def channel_endpoint(channel: str) -> tuple[str, str, str]:
    """Split ``PJSIP/1001-0000000a`` → ("PJSIP", "1001", ""), ``Local/1001@agents-0000a;1`` →
    ("Local", "1001", "agents")."""
    tech, _, rest = channel.partition("/")
    if tech == "Local":
        target = rest.rsplit(";", 1)[0]
        target = target.rsplit("-", 1)[0] if "-" in target.rpartition("@")[2] else target
        exten, _, context = target.partition("@")
        return tech, exten, context
    name = rest.rsplit("-", 1)[0] if "-" in rest else rest
    return tech, name, ""


class AgentDirectory:
    """Maps channel names to agent ids."""

    def __init__(
        self,
        endpoints: Mapping[str, str] | None = None,
        agent_contexts: Iterable[str] = ("agents",),
        numeric_endpoints_are_agents: bool = True,
    ) -> None:
        #: "PJSIP/1001" → "1001"
        self._endpoints = dict(endpoints or {})
        self._contexts = frozenset(agent_contexts)
        self._numeric = numeric_endpoints_are_agents
        self._cache: dict[str, str | None] = {}

    def register(self, endpoint: str, agent: str) -> None:
        self._endpoints[endpoint] = agent
        self._cache.clear()

    def agent_for_channel(self, channel: str) -> str | None:
        try:
            return self._cache[channel]
        except KeyError:
            pass
        agent = self._resolve(channel)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[channel] = agent
        return agent

    def _resolve(self, channel: str) -> str | None:
        tech, name, context = channel_endpoint(channel)
        known = self._endpoints.get(f"{tech}/{name}")
        if known is not None:
            return known
        if tech == "Local":
            return name if context in self._contexts and name else None
        if self._numeric and name.isdigit() and 2 <= len(name) <= 8:
            return name
        return None
