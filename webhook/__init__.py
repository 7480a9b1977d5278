"""placement-webhook: places Seldon Core 2 inference server Pods on the right nodes.

Layers, bottom to top (each imports only its own and those below; ``make lint`` checks it):
``admission`` (the AdmissionReview contract: request, response, handler), ``kube`` (Kubernetes
semantics: selectors, tolerations, patches), ``policy`` (the policy file), ``engine`` (matching,
placement, the plan memo, the guard, the two handlers), ``simulation`` (scheduler model, audit,
Seldon manifests). These pure layers import neither the HTTP stack nor the ``kubernetes``
client; the edges adapt them: ``cluster`` (the Kubernetes API, certificates), ``server`` (HTTPS)
and ``cli`` (the terminal, files).
"""

__version__ = "0.1.0"

#: The one annotation the webhook writes on a Pod it changed; its value is the policy name.
POLICY_ANNOTATION = "placement-webhook.io/policy"
