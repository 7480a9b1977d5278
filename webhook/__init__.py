"""placement-webhook: places Seldon Core 2 inference server Pods on the right nodes.

The pure core (``policies``, ``matching``, ``tolerations``, ``affinity``, ``placement``,
``patches``, ``admission``) never imports FastAPI, uvicorn or the ``kubernetes`` client; the edges
(``server``, ``cli``, ``certs``, ``cluster``) adapt it to HTTP, the terminal and the cluster.
"""

__version__ = "0.1.0"

#: The one annotation the webhook writes on a Pod it changed; its value is the policy name.
POLICY_ANNOTATION = "placement-webhook.io/policy"
