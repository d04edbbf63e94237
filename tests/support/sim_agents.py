"""Agent endpoint kinds of the PBX simulator, for end-to-end tests that parametrize over both.

``SimConfig(agent_tech=...)``: ``"PJSIP"`` agents are one channel per leg (``PJSIP/1001-0000000a``);
``"Local"`` agents are two (``Local/1001@agents-0000000b;1`` bridged to the customer, ``;2`` running the
agent's dialplan, never bridged), as in Asterisk (tests/fixtures/pbx-traces fact 30). Use::

    @pytest.fixture(params=AGENT_TECHS)
    def agent_tech(request): return request.param

    SimConfig(..., agent_tech=agent_tech)           # the simulator
    endpoint = agent_endpoint(agent_tech, "1001")   # the ACD config's agent endpoint
"""

from __future__ import annotations

from typing import Literal

AgentTech = Literal["PJSIP", "Local"]
AGENT_TECHS: tuple[AgentTech, ...] = ("PJSIP", "Local")


def agent_endpoint(tech: AgentTech, ext: str, context: str = "agents") -> str:
    """The dial string the ACD uses for agent ``ext`` with that kind of endpoint."""
    return f"PJSIP/{ext}" if tech == "PJSIP" else f"Local/{ext}@{context}/n"
