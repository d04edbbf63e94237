"""Built-in PBX simulator: plays Asterisk 22's part on real TCP (serves AMI, dials into FastAGI).

A separate package beside the service: it imports nothing from ``callcenter`` except
``callcenter.config``. Public API: ``SimConfig``, ``run_simulator``, ``Simulator``, ``SimReport``,
``add_sim_arguments``, ``config_from_args``.
"""

from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.runner import SimReport, Simulator, add_sim_arguments, config_from_args, run_simulator

__all__ = [
    "AgentPhoneProfile",
    "CustomerProfile",
    "SimConfig",
    "SimReport",
    "Simulator",
    "add_sim_arguments",
    "config_from_args",
    "run_simulator",
]
