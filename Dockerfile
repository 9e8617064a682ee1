# Pakat's container image: `pakat serve` by default; the same image runs `pakat worker` and `pakat backup`.
# Built from this repository (docker build -t pakat .); compose.yaml runs it beside Redis and PostgreSQL.
# Debian's packages: poppler (the validator draws pages to judge changes), SoftHSM2 (evaluation HSM; a
# production HSM's PKCS#11 client library is mounted or added in an image of your own), pg_dump/pg_restore
# (pakat backup on PostgreSQL).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY pakat /src/pakat
COPY commands /src/commands
COPY signer /src/signer
COPY validation /src/validation
COPY envelopes /src/envelopes
COPY web /src/web
COPY agent /src/agent
COPY hsm_config /src/hsm_config
COPY devkit /src/devkit
RUN python -m venv /opt/pakat/venv \
    && /opt/pakat/venv/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends softhsm2 poppler-utils postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pakat \
    && useradd --system --uid 10001 --gid pakat --home-dir /var/lib/pakat --shell /usr/sbin/nologin pakat \
    && install -d -m 0700 -o pakat -g pakat /var/lib/pakat /var/lib/pakat/softhsm \
    && install -d -m 0755 /etc/pakat
COPY --from=build /opt/pakat/venv /opt/pakat/venv
ENV PATH=/opt/pakat/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PAKAT_HOME=/var/lib/pakat \
    PAKAT_CONFIG=/etc/pakat/pakat.yaml
USER pakat
WORKDIR /var/lib/pakat
VOLUME ["/var/lib/pakat"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["pakat", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--threads", "4"]
