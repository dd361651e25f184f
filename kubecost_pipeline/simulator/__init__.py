"""A Kubecost/OpenCost API simulator over a deterministic model of a fleet.

    from kubecost_pipeline.simulator import Fault, Fleet, FleetSpec, SimulatorServer

    fleet = Fleet(FleetSpec(seed=7, clusters=2, days=30))
    fleet.allocations(day)          # container-level allocations of a UTC day
    fleet.truth(day, level="namespace")   # expected totalCost per key
    with SimulatorServer(fleet, flavour="kubecost2") as server:
        server.base_url            # http://127.0.0.1:<port>; Kubecost paths under /model
        server.faults.add(Fault(kind="503", times=2, path="/model/allocation"))

Flavours: ``kubecost1``, ``kubecost2``, ``opencost``, ``kubecost19`` (string floats).
"""

from kubecost_pipeline.simulator.faults import KINDS as FAULT_KINDS
from kubecost_pipeline.simulator.faults import Fault
from kubecost_pipeline.simulator.model import Allocation, Fleet, FleetSpec
from kubecost_pipeline.simulator.render import FLAVOURS
from kubecost_pipeline.simulator.server import SimulatorServer

__all__ = [
    "FAULT_KINDS",
    "FLAVOURS",
    "Allocation",
    "Fault",
    "Fleet",
    "FleetSpec",
    "SimulatorServer",
]
