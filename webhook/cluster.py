"""The only module that talks to the Kubernetes API through the ``kubernetes`` client.

Objects come back as the plain JSON dicts the API server sent, never as client models: the rest of
the project reads raw objects (``webhook.objects``), and models would rename and drop fields.
"""

from __future__ import annotations

import json
import os
from typing import Any

import kubernetes


def load_api_client(kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """An API client from the in-cluster service account if there is one, else from kubeconfig.

    ``KUBECONFIG`` is read here, at call time: the client reads it only once, when first imported.
    """
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig or os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    return kubernetes.client.ApiClient(configuration)


def list_nodes(api_client: kubernetes.client.ApiClient) -> list[dict[str, Any]]:
    """Every Node, as raw dicts (the response body is decoded, not deserialised into models)."""
    # Without preloading, the call returns the HTTP response (its stubs say V1NodeList regardless).
    response: Any = kubernetes.client.CoreV1Api(api_client).list_node(_preload_content=False)
    items = json.loads(response.data).get("items")
    return items if isinstance(items, list) else []
