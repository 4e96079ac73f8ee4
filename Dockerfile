# The linecast image: one image for the API (`serve`, the default command), the training `worker`
# and `migrate`; docker-compose.yml runs each of them from it.
#
# Two stages, so the runtime image holds the installed virtualenv and the sources but none of
# pip's build environments. Dependencies are installed before the sources are copied: editing
# code rebuilds only the last, small layers.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU wheel, pinned as in the Makefile: resolved from PyPI, torch would also pull the CUDA
# libraries (several GB) that this CPU-only service never loads.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml ./
# The other dependencies, listed once in pyproject.toml; the torch installed above satisfies its
# requirement there, so pip keeps the CPU build.
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY README.md alembic.ini ./
COPY app/ app/
COPY model/ model/
COPY preprocessing/ preprocessing/
COPY migrations/ migrations/
# Editable, with /app at the same path in both stages: app/db/migrate.py finds migrations/ beside
# the `app` package, which a regular install into site-packages would leave behind.
RUN pip install --no-deps -e .

FROM python:3.11-slim
# LINECAST_DATA_DIR: production settings refuse the default ./var (see app/settings.py). Nothing
# kept there needs a volume while PostgreSQL holds the data and the models.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LINECAST_DATA_DIR=/var/lib/linecast
# A fixed numeric id, so that volume permissions and "run as non-root" checks can rely on it.
RUN groupadd --system --gid 10001 linecast \
    && useradd --system --uid 10001 --gid linecast --create-home --shell /usr/sbin/nologin \
        linecast \
    && install -d -o linecast -g linecast /var/lib/linecast
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The API's liveness, with python because the slim image has no curl. Services of this image that
# serve no HTTP (worker, migrate) switch it off in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["linecast"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
