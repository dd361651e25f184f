# Airbyte's Python connector template (docker-images/Dockerfile.python-connector), vendored
# because `airbyte-cdk image build` downloads it from GitHub at build time.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.0

# uv installs with --compile-bytecode: the `airbyte` user cannot write __pycache__ under
# /usr/local, and compiling the CDK at every start would cost about 1.2 s per sync.
FROM ${BASE_IMAGE} AS builder
WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md main.py ./
COPY requirements/connector.lock.txt ./requirements/connector.lock.txt
COPY source_kubecost ./source_kubecost
RUN pip install --no-cache-dir uv \
    && python -m uv pip install --system --no-cache-dir --compile-bytecode \
        -r requirements/connector.lock.txt \
    && python -m uv pip install --system --no-cache-dir --compile-bytecode --no-deps .

FROM ${BASE_IMAGE}
ARG CONNECTOR_NAME=source-kubecost
COPY --from=builder /usr/local /usr/local
RUN printf '#!/bin/sh\nset -e\nexec %s "$@"\n' "${CONNECTOR_NAME}" > /entrypoint.sh \
    && chmod +x /entrypoint.sh
WORKDIR /airbyte/integration_code
USER airbyte
ENV AIRBYTE_ENTRYPOINT="/entrypoint.sh"
ENTRYPOINT ["/entrypoint.sh"]
LABEL io.airbyte.name=airbyte/source-kubecost
LABEL io.airbyte.version=0.3.0
