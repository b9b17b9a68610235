"""The Storm Thrift IDL, loaded once.

``storm.thrift`` beside this module is the part of Apache Storm 2.x's
``storm.thrift`` we speak, with Storm's exact field ids. thriftpy2 builds the
struct classes at import time from the IDL, so there is no generated code to
keep in step. Those classes are dynamic: mypy sees them as ``Any``, which is why
the rest of the package converts them to typed models (``model``) at the edge.
"""

from __future__ import annotations

import pathlib
from typing import Any

import thriftpy2

IDL_PATH = pathlib.Path(__file__).with_name("storm.thrift")

#: The loaded module: ``storm.Nimbus``, ``storm.StormTopology``, ``storm.NotAliveException``…
storm: Any = thriftpy2.load(str(IDL_PATH), module_name="pilothouse_storm_thrift")

#: The Nimbus service, whose ``<method>_args`` / ``<method>_result`` classes the wire codec uses.
Nimbus: Any = storm.Nimbus
