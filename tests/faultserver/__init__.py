"""The fault-injecting server used by the resilience tests (see ``server.py``)."""

from .server import Fault, FaultServer, Record
from .wire import WIRES

__all__ = ["WIRES", "Fault", "FaultServer", "Record"]
