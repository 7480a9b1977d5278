"""Server settings: every ``serve`` option is also an environment variable ``PLACEMENT_WEBHOOK_<NAME>``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from webhook.policy.loading import default_policies_path


class ServerSettings(BaseSettings):
    """Defaults are safe for production; ``make run`` relies on ``dev_certs`` for a first start."""

    model_config = SettingsConfigDict(env_prefix="PLACEMENT_WEBHOOK_", extra="forbid")

    policies: Path = Field(default_factory=default_policies_path, description="policy file to serve")
    cert_dir: Path = Field(Path("certs"), description="folder with tls.crt, tls.key (and ca.crt)")
    host: str = Field("0.0.0.0", description="address to listen on")
    port: int = Field(8443, ge=1, le=65535)
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="also serve /metrics over plain HTTP on this port (off by default)"
    )
    dev_certs: bool = Field(True, description="create a local CA and certificate when cert_dir has none")
    client_ca: Path | None = Field(
        None, description="if set, the webhook paths require client certificates signed by this CA"
    )
    reload_interval: float = Field(2.0, gt=0, le=60, description="seconds between checks for changed files")
    max_body_bytes: int = Field(3 * 1024 * 1024, ge=1024, description="larger requests get 413")
    body_timeout: float = Field(10.0, gt=0, description="seconds to receive a request body (slow clients)")
    header_timeout: float = Field(
        10.0, gt=0, description="seconds to receive a request line and headers; slower clients get 408"
    )
    max_header_bytes: int = Field(64 * 1024, ge=1024, description="longer request heads get 431")
    keep_alive_timeout: float = Field(
        120.0, gt=0, description="idle keep-alive seconds; above the API server's 90 s so it closes first"
    )
    max_connections: int = Field(1000, ge=1, description="concurrent connections before new ones get 503")
    shutdown_timeout: float = Field(25.0, gt=0, description="seconds to finish in-flight requests on SIGTERM")
    namespace_lookup_timeout: float = Field(
        2.0, gt=0, le=10, description="seconds for the direct GET of a namespace the cache does not have"
    )
    namespace_relist_interval: float = Field(
        600.0, ge=10, description="seconds between full relists of the namespace cache"
    )
    native_guard: str | None = Field(
        None,
        description="keep the native ValidatingAdmissionPolicies NAME and NAME-audit (the chart installs"
        " them and their bindings) compiled from the reservations in step, by server-side apply",
    )
    native_placement: str | None = Field(
        None,
        description="keep the native MutatingAdmissionPolicy NAME and the ValidatingAdmissionPolicies"
        " NAME-deny and NAME-warn (the chart installs them and their bindings in mode native or both)"
        " compiled from the enforce policies in step, by server-side apply",
    )
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
