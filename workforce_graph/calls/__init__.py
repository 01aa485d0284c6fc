"""Model calls: one verb for a role's structured call, and what every call needs.

:func:`ask` is how a node asks a model for a schema; around it, the parts any model call
uses: structured output that survives misbehaving servers (:mod:`.structured`), what a
reply says about itself (:mod:`.replies`), which errors end a run (:mod:`.errors`), the
role in each call's run metadata (:mod:`.roles`) and token accounting (:mod:`.usage`).
"""

from workforce_graph.calls.ask import CallFailure, ask
from workforce_graph.calls.errors import (
    ServerErrorStreak,
    ServerUnavailableError,
    call_failure,
    is_fatal,
)
from workforce_graph.calls.roles import ModelRole, role_config
from workforce_graph.calls.structured import (
    StructuredMethod,
    StructuredOutputError,
    structured_call,
)
from workforce_graph.calls.usage import Usage, UsageMeter, add_usage

__all__ = [
    "CallFailure",
    "ModelRole",
    "ServerErrorStreak",
    "ServerUnavailableError",
    "StructuredMethod",
    "StructuredOutputError",
    "Usage",
    "UsageMeter",
    "add_usage",
    "ask",
    "call_failure",
    "is_fatal",
    "role_config",
    "structured_call",
]
