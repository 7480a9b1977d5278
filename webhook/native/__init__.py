"""Native mode: the policy file compiled into admission policies the API server evaluates itself.

``compile_guard_policy`` turns the reservations into a ValidatingAdmissionPolicy and binding
(``webhook.native.guard_policy``), from CEL built out of the compiled policies
(``webhook.native.cel``). Pure: the server applies them (``webhook.cluster.native_guard``), the CLI
prints them (``placement-webhook native-guard``).
"""

from webhook.native.guard_policy import compile_guard_policy, guard_policies, inert_policy

__all__ = ["compile_guard_policy", "guard_policies", "inert_policy"]
