# placement-webhook server image: `docker build -t placement-webhook:0.1.0 .`
# Two stages: the first installs the dependencies from requirements.lock (every package and the
# build backend pinned with sha256 hashes: `make lock`; pip refuses anything unhashed) and then the
# package itself without resolving anything; the final image gets only that virtualenv, runs as a
# numeric non-root user (Kubernetes' runAsNonRoot can check a number, not a name) and holds no pip,
# setuptools, compiler or cache. Pin by digest too (python:3.11.11-slim-bookworm@sha256:...) for
# reproducible builds.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# webhook/defaults/policies.yaml is a symlink to the top-level policies.yaml
COPY requirements.lock ./
# the package index may be reached through a TLS-intercepting proxy: `--secret id=ca-bundle,src=...`
# mounts that CA bundle for this step only (never in a layer); without it pip uses its own
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md LICENSE policies.yaml ./
COPY webhook ./webhook
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
# set at build time: --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) ...
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="placement-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that places Seldon Core 2 inference servers on the right nodes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/placement-webhook/placement-webhook" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# the base image's own installer is not needed at run time (a base without pip has none to remove)
RUN if python -m pip --version >/dev/null 2>&1; then \
      python -m pip uninstall --yes --no-cache-dir pip setuptools wheel; fi
COPY --from=build /opt/venv /opt/venv
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["placement-webhook", "serve"]
