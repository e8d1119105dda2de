# Contato Ativo for Slack: one image for every command; `serve` by default.
#
#   docker build -t contato-bot .
#   docker run -p 3000:3000 --env-file .env -v contato-data:/data contato-bot
#
# The SQLite database lives on the /data volume; with DATABASE_URL=postgresql://... it is not used.
# Put your contato.yml over /etc/contato/contato.yml (a read-only bind mount); the built-in one is
# contato.example.yml, enough to try the sandbox channel.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user owning only /data.
RUN groupadd --system --gid 10001 contato \
    && useradd --system --uid 10001 --gid contato --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin contato \
    && mkdir -p /data /etc/contato \
    && chown contato:contato /data

WORKDIR /tmp/src
# The app and its dependencies at the versions the test suite passed on (constraints.txt); the
# sources go once installed.
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
RUN python -m pip install --no-cache-dir -c constraints.txt . \
    && rm -rf /tmp/src
COPY contato.example.yml /etc/contato/contato.yml

ENV CONTATO_CONFIG=/etc/contato/contato.yml \
    DATABASE_URL=sqlite:////data/contato.db \
    PORT=3000 \
    LOG_FORMAT=json

VOLUME ["/data"]
WORKDIR /data
# The `contato` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 3000

# No curl in slim images: Python's urllib asks /healthz (503 when the database does not answer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

ENTRYPOINT ["contato-bot"]
CMD ["serve"]
